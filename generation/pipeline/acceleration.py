"""GPU options for a loaded video pipeline: VAE slicing and tiling, SDPA attention, a compiled denoiser.

Half precision (bf16, else fp16) is chosen where the pipeline is loaded (loading.resolve_device).
Attention is not changed here: diffusers' default processors already run PyTorch's
scaled_dot_product_attention (AttnProcessor2_0 in the SD 1.5 UNet and its motion modules;
WanAttnProcessor through diffusers' attention dispatcher, whose default backend is "native", that
same function); `accelerate` only checks that this is so and says which processors it found.

Compiling is opt-in (BESPOKE_COMPILE) and regional (the denoiser's repeated blocks): the first render
after it pays the compilation, and the first with a likeness once more (its LoRA layers change the
blocks). Likeness adapters are then swapped in place (generation.pipeline.adapters), which recompiles
nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

SDPA = "sdpa"
# diffusers' processors that call torch.nn.functional.scaled_dot_product_attention, directly or
# through the attention dispatcher (then only with the "native" backend).
SDPA_PROCESSORS = frozenset({"AttnProcessor2_0", "WanAttnProcessor"})
NATIVE_BACKEND = "native"
# The blocks compiled where a model does not declare its own (diffusers declares BasicTransformerBlock for
# the SD UNet, not for its AnimateDiff version, whose spatial and motion layers are made of them too).
REPEATED_BLOCKS = {"UNetMotionModel": ("BasicTransformerBlock",)}
INDUCTOR = "inductor"  # torch.compile's code-generating backend; "eager" only traces (for quick checks)


@dataclass(frozen=True)
class Acceleration:
    """What `accelerate` applied to a pipeline, and the attention its denoiser runs."""

    device: str
    vae_slicing: bool
    vae_tiling: bool
    attention: str  # SDPA, or the names of the attention processors found when not all of them use it
    compiled: bool

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "vae_slicing": self.vae_slicing, "vae_tiling": self.vae_tiling,
                "attention": self.attention, "compiled": self.compiled}


def denoiser_of(pipe: Any) -> Any:
    """The pipeline's denoising network: the UNet (AnimateDiff) or the transformer (Wan)."""
    for name in ("unet", "transformer", "transformer_2"):
        module = getattr(pipe, name, None)
        if module is not None:
            return module
    raise ValueError(f"{type(pipe).__name__} has no unet or transformer to accelerate")


def attention_in_use(denoiser: Any) -> str:
    """SDPA when every attention layer of `denoiser` runs PyTorch's scaled_dot_product_attention;
    otherwise the processors' class names (and dispatcher backends), so a slower path is named."""
    default_backend = os.environ.get("DIFFUSERS_ATTN_BACKEND", NATIVE_BACKEND)
    kinds = set()
    for processor in denoiser.attn_processors.values():
        name = type(processor).__name__
        if hasattr(processor, "_attention_backend"):  # a dispatching processor (Wan's)
            backend = processor._attention_backend or default_backend
            kinds.add(name if str(getattr(backend, "value", backend)) == NATIVE_BACKEND else f"{name}[{backend}]")
        else:
            kinds.add(name)
    if kinds and kinds <= SDPA_PROCESSORS:
        return SDPA
    return ", ".join(sorted(kinds)) or "none"


def compile_denoiser(denoiser: Any, *, backend: str = INDUCTOR) -> None:
    """torch.compile the denoiser's repeated blocks in place (diffusers' regional compilation: about
    the speed of compiling the whole network, for a fraction of the compile time)."""
    regions = getattr(denoiser, "_repeated_blocks", None) or REPEATED_BLOCKS.get(type(denoiser).__name__)
    if not regions:
        raise ValueError(f"{type(denoiser).__name__} names no repeated blocks to compile")
    for module in denoiser.modules():
        if type(module).__name__ in regions:
            # Not fullgraph: a likeness adapter's LoRA layers, once loaded, may break the graph.
            module.compile(backend=backend)


def is_compiled(module: Any) -> bool:
    """Whether `module` or any module inside it was compiled in place (nn.Module.compile)."""
    return any(getattr(sub, "_compiled_call_impl", None) is not None for sub in module.modules())


def accelerate(pipe: Any, *, device: str, compile: bool = False, compile_backend: str = INDUCTOR) -> Acceleration:
    """Apply the GPU options to a loaded pipeline (already on `device`).

    On CUDA the VAE decodes batch by batch (slicing) and large frames tile by tile (tiling), so a
    long clip at full size fits in memory; on the CPU the VAE is left as it is. With `compile`,
    the denoiser is compiled (any device) with `compile_backend`."""
    vae = getattr(pipe, "vae", None)
    slicing = tiling = False
    if device == "cuda" and vae is not None:
        # diffusers' VAEs that implement them have these flags (the methods exist on every VAE, and raise).
        if hasattr(vae, "use_slicing"):
            vae.enable_slicing()
            slicing = True
        if hasattr(vae, "use_tiling"):
            vae.enable_tiling()
            tiling = True
    denoiser = denoiser_of(pipe)
    if compile and not is_compiled(denoiser):
        compile_denoiser(denoiser, backend=compile_backend)
    applied = Acceleration(device=device, vae_slicing=slicing, vae_tiling=tiling, attention=attention_in_use(denoiser),
                           compiled=is_compiled(denoiser))
    if applied.attention != SDPA:
        logger.warning("%s attention does not use PyTorch SDPA: %s", type(denoiser).__name__, applied.attention)
    logger.info("pipeline %s accelerated: %s", type(pipe).__name__, applied.as_dict())
    return applied
