"""wan: Wan 2.1 / 2.2 (Apache-2.0) through diffusers' WanPipeline and WanImageToVideoPipeline.

A deployment names a text-to-video diffusers folder and, optionally, an image-to-video one
(Wan 2.1 I2V with its CLIP image encoder, Wan 2.2 I2V without one, or Wan 2.2 TI2V-5B, whose one
transformer does both). Each component whose files are the same in both folders (the UMT5 text
encoder, tokenizer and VAE of Wan 2.1 and 2.2; all of TI2V-5B) is loaded once and used by both
pipelines. Likeness LoRAs go on the transformer's attention through diffusers'
WanLoraLoaderMixin; one trained on the text-to-video transformer also renders image-to-video only
where that transformer is the same one or has the same shape.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from generation.pipeline import adapters
from generation.pipeline.acceleration import accelerate
from generation.pipeline.families.base import (
    LoadedModel,
    ModelPaths,
    UnsupportedMode,
    check_frame,
)
from generation.pipeline.loading import (
    ModelUnavailable,
    files_sha256,
    pipeline_cache,
    resolve_device,
    same_files,
)
from generation.pipeline.rendering import RenderSettings, StepHook, render_frames
from generation.pipeline.training import StepHook as TrainingStepHook
from generation.pipeline.training import TrainedLora, TrainingSettings
from generation.pipeline.wan_tiny import build_tiny_wan


@dataclass(frozen=True)
class WanSpec:
    """`base`: a WanPipeline diffusers folder; `image_to_video`: a WanImageToVideoPipeline folder, or none."""

    family: ClassVar[str] = "wan"
    base: Path
    image_to_video: Path | None = None
    device: str = "auto"
    threads: int = 0
    compile: bool = False

    def load(self) -> LoadedModel:
        return Wan().load(self)

    def roots(self) -> tuple[Path, ...]:
        return tuple(Path(p) for p in (self.base, self.image_to_video) if p is not None)


def _check_present(spec: WanSpec) -> None:
    for folder in spec.roots():
        if not (folder / "model_index.json").is_file():
            raise ModelUnavailable(f"{folder} is not a diffusers model folder (no model_index.json)")


# What a likeness LoRA's shapes depend on (it adapts each block's attention projections).
LORA_SHAPE = ("num_layers", "num_attention_heads", "attention_head_dim")
# The components the two pipelines may hold in common (the scheduler, small and stateful, is each one's own).
SHAREABLE = ("tokenizer", "text_encoder", "vae", "transformer", "transformer_2")
NO_LIKENESS_FOR_IMAGE_TO_VIDEO = (
    "this deployment's image-to-video transformer has another shape than the text-to-video one that likeness "
    "models are trained on, so a likeness model cannot render image-to-video here: use Wan 2.2 TI2V-5B for "
    "both, or an image-to-video model with the same transformer shape as the text-to-video one")


def _load_folder(pipeline_class: Any, folder: Path, dtype: Any, **components: Any) -> Any:
    """The pipeline in `folder`, with `components` (already loaded modules) used instead of its own."""
    import torch
    from diffusers import AutoencoderKLWan

    if "vae" not in components:
        # Wan's VAE is kept in float32 whatever the transformer's dtype, as its authors recommend.
        components["vae"] = AutoencoderKLWan.from_pretrained(folder, subfolder="vae", local_files_only=True,
                                                             dtype=torch.float32)
    pipe = pipeline_class.from_pretrained(folder, local_files_only=True, dtype=dtype, **components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _shared_components(pipe: Any, base: Path, folder: Path) -> dict[str, Any]:
    """The modules of `pipe` (loaded from `base`) whose files in `folder` are byte-identical to base's."""
    return {name: getattr(pipe, name) for name in SHAREABLE
            if getattr(pipe, name, None) is not None and (base / name).is_dir() and same_files(base / name, folder / name)}


def _fits(trained_on: Any, experts: list[Any], config_of: Any) -> bool:
    """Whether a LoRA trained on `trained_on` loads into each of `experts` (None where a pipeline has no
    second expert): each is that very module or has its shape (by `config_of`)."""
    present = [expert for expert in experts if expert is not None]
    base = config_of(trained_on)
    return bool(present) and base is not None and all(
        expert is trained_on or all(base.get(key) == config_of(expert).get(key) for key in LORA_SHAPE)
        for expert in present)


def _transformer_config(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / "config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _frames_to_render(pipe: Any, settings: RenderSettings) -> int:
    """Wan renders 4k+1 frames (its VAE compresses time fourfold after the first frame): the smallest such
    count that covers the request; the extra frames are dropped."""
    if settings.num_frames < 1 or settings.steps < 1:
        raise ValueError("a clip needs at least one frame and one denoising step")
    transformer = pipe.transformer if pipe.transformer is not None else pipe.transformer_2
    multiple = pipe.vae_scale_factor_spatial * transformer.config.patch_size[1]
    if settings.width % multiple or settings.height % multiple:
        raise ValueError(f"this model renders widths and heights in multiples of {multiple} pixels, "
                         f"not {settings.width}x{settings.height}")
    temporal = pipe.vae_scale_factor_temporal
    return (settings.num_frames - 1 + temporal - 1) // temporal * temporal + 1


def _render(pipe: Any, settings: RenderSettings, on_step: StepHook | None, **conditioning: Any) -> np.ndarray:
    return render_frames(pipe, settings, on_step, num_frames=_frames_to_render(pipe, settings), **conditioning)


def _check_ends_on_a_frame(pipe: Any) -> None:
    """Wan 2.2 TI2V and Wan 2.1 I2V condition on a first frame only; Wan 2.2 I2V and Wan 2.1 FLF2V (whose
    transformer positions the two frames' CLIP embeddings) also on a last one."""
    config = (pipe.transformer if pipe.transformer is not None else pipe.transformer_2).config
    if pipe.config.expand_timesteps or (config.image_dim is not None and config.pos_embed_seq_len is None):
        raise UnsupportedMode("this image-to-video model conditions on the first frame only; ending on a given "
                              "frame needs Wan 2.2 I2V or Wan 2.1 FLF2V")


class Wan:
    name = "wan"
    size_multiple = 16  # the VAE's 8 times the transformer's patch of 2 (Wan 2.2 TI2V-5B's is 32)
    trains_text_encoder = False

    def spec_for(self, paths: ModelPaths) -> WanSpec:
        return WanSpec(base=Path(paths.base), image_to_video=Path(paths.image_to_video) if paths.image_to_video else None,
                       device=paths.device, threads=paths.threads, compile=paths.compile)

    def build_tiny(self, destination: Path) -> None:
        build_tiny_wan(destination)

    def tiny_spec(self, root: Path, *, device: str = "cpu") -> WanSpec:
        return WanSpec(base=Path(root) / "t2v", image_to_video=Path(root) / "i2v", device=device)

    def fingerprint(self, spec: WanSpec) -> str:
        return files_sha256(spec.roots())

    def load(self, spec: WanSpec) -> LoadedModel:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from diffusers import WanImageToVideoPipeline, WanPipeline
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()
        _check_present(spec)
        if spec.threads:
            torch.set_num_threads(spec.threads)
        device, dtype = resolve_device(spec.device)
        try:
            pipe = _load_folder(WanPipeline, Path(spec.base), dtype)
            image_pipe = None
            if spec.image_to_video is not None:
                image_pipe = _load_folder(WanImageToVideoPipeline, Path(spec.image_to_video), dtype,
                                          **_shared_components(pipe, Path(spec.base), Path(spec.image_to_video)))
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"cannot load the Wan model from {spec.roots()}: {exc}") from exc
        for loaded in (pipe, image_pipe):
            if loaded is not None:
                loaded.to(device)
                accelerate(loaded, device=device, compile=spec.compile)
        fits = image_pipe is not None and _fits(
            pipe.transformer, [image_pipe.transformer, image_pipe.transformer_2],
            lambda module: None if module is None else module.config)
        return LoadedModel(family=self.name, pipe=pipe, image_pipe=image_pipe, device=device,
                           model_sha256=self.fingerprint(spec), likeness_fits_image_to_video=fits)

    def likeness_fits_image_to_video(self, spec: WanSpec) -> bool:
        """Whether a likeness model trained on this deployment's text-to-video transformer loads into its
        image-to-video one, read from the transformers' configs (no weights are loaded)."""
        if spec.image_to_video is None:
            return False
        image_to_video = Path(spec.image_to_video)
        experts = [image_to_video / name for name in ("transformer", "transformer_2")
                   if (image_to_video / name / "config.json").is_file()]
        return _fits(Path(spec.base) / "transformer", experts, _transformer_config)

    def render_text_to_video(self, loaded: LoadedModel, settings: RenderSettings,
                             on_step: StepHook | None = None) -> np.ndarray:
        return _render(loaded.pipe, settings, on_step)

    def render_keyframe(self, loaded: LoadedModel, settings: RenderSettings,
                        on_step: StepHook | None = None) -> np.ndarray:
        """The text-to-video model asked for one frame (Wan's VAE encodes the first frame on its own, so a
        one-frame clip is an image of the model's)."""
        return _render(loaded.pipe, replace(settings, num_frames=1), on_step)

    def render_image_to_video(self, loaded: LoadedModel, settings: RenderSettings, first_frame: np.ndarray,
                              last_frame: np.ndarray | None = None, on_step: StepHook | None = None) -> np.ndarray:
        from PIL import Image

        pipe = loaded.image_pipe
        if pipe is None:
            raise UnsupportedMode("this deployment has no Wan image-to-video model")
        check_frame(first_frame, "first frame")
        conditioning: dict[str, Any] = {"image": Image.fromarray(first_frame)}
        if last_frame is not None:
            check_frame(last_frame, "last frame")
            _check_ends_on_a_frame(pipe)
            num_frames = _frames_to_render(pipe, settings)
            if num_frames != settings.num_frames:
                raise ValueError(f"a clip that ends on a given frame needs 4k+1 frames (such as {num_frames}), "
                                 f"not {settings.num_frames}")
            conditioning["last_image"] = Image.fromarray(last_frame)
        return _render(pipe, settings, on_step, **conditioning)

    def likeness_adapters(self, loaded: LoadedModel, weighted: Sequence[tuple[bytes, float]], *,
                          image_to_video: bool = False) -> AbstractContextManager[None]:
        pipe = loaded.image_pipe if image_to_video else loaded.pipe
        if pipe is None:
            raise UnsupportedMode("this deployment has no Wan image-to-video model")
        if image_to_video and weighted and not loaded.likeness_fits_image_to_video:
            raise UnsupportedMode(NO_LIKENESS_FOR_IMAGE_TO_VIDEO)
        return adapters.likeness_adapters(pipe, weighted)

    def train_likeness(self, spec: WanSpec, photos: list[np.ndarray], settings: TrainingSettings,
                       on_step: TrainingStepHook | None = None) -> TrainedLora:
        """A likeness LoRA trained on the worker's loaded text-to-video transformer, which is unchanged after it."""
        from generation.pipeline.wan_training import train_wan_lora

        return train_wan_lora(pipeline_cache.get(spec).pipe, photos, settings, on_step=on_step)
