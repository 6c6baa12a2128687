"""GPU options on a loaded pipeline (generation.pipeline.acceleration), on the tiny models.

On the CPU the pipeline renders as loaded; on CUDA the VAE slices and tiles; attention is
PyTorch's SDPA in both families, and anything else is named; the denoiser is compiled only when
asked, in place, so adapters and the rest of the pipeline still find it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generation.pipeline.acceleration import SDPA, Acceleration, accelerate, is_compiled
from generation.pipeline.families import family_for
from generation.pipeline.loading import load_video_pipeline
from generation.pipeline.rendering import RenderSettings, render_frames

SETTINGS = RenderSettings(prompt="sks person walking on a beach", negative_prompt="", num_frames=4, width=32,
                          height=32, steps=2, guidance_scale=5.0, seed=3)


def _loaded(root: Path, **changes: object):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return load_video_pipeline(replace(family_for("animatediff-sd15").tiny_spec(root), **changes))


def test_on_the_cpu_without_compile_the_pipeline_renders_exactly_as_it_did_with_sdpa_attention(tiny_model_root):
    pipe = _loaded(tiny_model_root).pipe  # loading applies the options already
    unet, before = pipe.unet, render_frames(pipe, SETTINGS)

    applied = accelerate(pipe, device="cpu", compile=False)

    assert applied == Acceleration(device="cpu", vae_slicing=False, vae_tiling=False, attention=SDPA, compiled=False)
    assert pipe.unet is unet and not is_compiled(unet)
    assert not pipe.vae.use_slicing and not pipe.vae.use_tiling, "no tiling on the CPU"
    np.testing.assert_array_equal(render_frames(pipe, SETTINGS), before)


def test_on_cuda_the_vae_decodes_in_slices_and_tiles(tiny_model_root):
    pipe = _loaded(tiny_model_root).pipe

    applied = accelerate(pipe, device="cuda")

    assert applied.vae_slicing and applied.vae_tiling and not applied.compiled
    assert pipe.vae.use_slicing and pipe.vae.use_tiling


def test_attention_other_than_sdpa_is_named(tiny_model_root):
    from diffusers.models.attention_processor import AttnProcessor

    pipe = _loaded(tiny_model_root).pipe
    pipe.unet.set_attn_processor(AttnProcessor())

    assert accelerate(pipe, device="cpu").attention == "AttnProcessor"


def test_a_spec_that_asks_for_compile_loads_a_compiled_unet_in_place(tiny_model_root):
    loaded = _loaded(tiny_model_root, compile=True)

    assert is_compiled(loaded.pipe.unet)
    assert type(loaded.pipe.unet).__name__ == "UNetMotionModel", "compiled in place, not wrapped"
    assert accelerate(loaded.pipe, device="cpu", compile=True).compiled, "compiling twice is harmless"


def test_the_wan_transformer_uses_sdpa_and_compiles_its_repeated_blocks_only(tiny_wan_root):
    wan = family_for("wan")
    pipe = wan.load(wan.tiny_spec(tiny_wan_root)).pipe

    assert accelerate(pipe, device="cpu").attention == SDPA
    applied = accelerate(pipe, device="cpu", compile=True)

    assert applied.compiled
    assert pipe.transformer._compiled_call_impl is None, "the transformer itself stays eager"
    assert all(is_compiled(block) for block in pipe.transformer.blocks)


def test_a_pipeline_without_a_denoiser_is_refused():
    class NoDenoiser:
        vae = None

    with pytest.raises(ValueError, match="no unet or transformer"):
        accelerate(NoDenoiser(), device="cpu")
