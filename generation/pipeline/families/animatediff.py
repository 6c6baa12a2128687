"""animatediff-sd15: an SD 1.5 image model with an AnimateDiff motion adapter (Bespoke's original path)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from generation.pipeline import adapters
from generation.pipeline.families.base import LoadedModel, ModelPaths, UnsupportedMode
from generation.pipeline.loading import (
    ModelSpec,
    ModelUnavailable,
    load_image_pipeline,
    load_video_pipeline,
    model_fingerprint,
    resolve_device,
)
from generation.pipeline.rendering import RenderSettings, StepHook, render_frames
from generation.pipeline.tiny import build_tiny_model
from generation.pipeline.training import StepHook as TrainingStepHook
from generation.pipeline.training import (
    TrainedLora,
    TrainingSettings,
    train_dreambooth_lora,
)


class AnimateDiffSD15:
    name = "animatediff-sd15"
    size_multiple = 8  # the VAE's scale factor
    trains_text_encoder = True

    def spec_for(self, paths: ModelPaths) -> ModelSpec:
        if paths.motion_adapter is None:
            raise ModelUnavailable("the animatediff-sd15 family needs a motion adapter folder")
        return ModelSpec(base=Path(paths.base), motion_adapter=Path(paths.motion_adapter), device=paths.device,
                         threads=paths.threads, config=paths.config, compile=paths.compile)

    def build_tiny(self, destination: Path) -> None:
        build_tiny_model(destination)

    def tiny_spec(self, root: Path, *, device: str = "cpu") -> ModelSpec:
        return ModelSpec(base=Path(root) / "base", motion_adapter=Path(root) / "motion_adapter", device=device)

    def fingerprint(self, spec: ModelSpec) -> str:
        return model_fingerprint(spec)

    def load(self, spec: ModelSpec) -> LoadedModel:
        return load_video_pipeline(spec)

    def render_text_to_video(self, loaded: LoadedModel, settings: RenderSettings,
                             on_step: StepHook | None = None) -> np.ndarray:
        return render_frames(loaded.pipe, settings, on_step=on_step)

    def render_keyframe(self, loaded: LoadedModel, settings: RenderSettings,
                        on_step: StepHook | None = None) -> np.ndarray:
        """The SD 1.5 image model's picture: the loaded pipeline asked for one frame with its motion modules
        passed over, which leaves exactly the image model's layers (and the likeness LoRA on them).

        StableDiffusionPipeline.from_pipe cannot take the loaded pipeline's UNet (a UNetMotionModel, not the
        UNet2DConditionModel it needs), and loading the image model's UNet again would hold a second copy
        of its weights for one still."""
        with _motion_modules_passed_over(loaded.pipe.unet):
            return render_frames(loaded.pipe, replace(settings, num_frames=1), on_step=on_step)

    def render_image_to_video(self, loaded: LoadedModel, settings: RenderSettings, first_frame: np.ndarray,
                              last_frame: np.ndarray | None = None, on_step: StepHook | None = None) -> np.ndarray:
        raise UnsupportedMode("the animatediff-sd15 family renders from text only; "
                              "image-to-video needs the wan family")

    def likeness_fits_image_to_video(self, spec: ModelSpec) -> bool:
        return False  # no image-to-video at all

    def likeness_adapters(self, loaded: LoadedModel, weighted: Sequence[tuple[bytes, float]], *,
                          image_to_video: bool = False) -> AbstractContextManager[None]:
        if image_to_video:
            raise UnsupportedMode("the animatediff-sd15 family has no image-to-video pipeline")
        return adapters.likeness_adapters(loaded.pipe, weighted)

    def train_likeness(self, spec: ModelSpec, photos: list[np.ndarray], settings: TrainingSettings,
                       on_step: TrainingStepHook | None = None) -> TrainedLora:
        """DreamBooth-LoRA on the base image model, loaded on its own in float32 for the training."""
        import torch

        device, _ = resolve_device(spec.device)
        pipe = load_image_pipeline(spec, dtype=torch.float32).to(device)
        return train_dreambooth_lora(pipe, photos, settings, on_step=on_step)


@contextmanager
def _motion_modules_passed_over(unet: Any) -> Iterator[None]:
    """Inside the block, each motion module of the UNet returns its input unchanged.

    A motion module adds its temporal attention to its input (`input + f(input)`); without it the
    UNet's layers are the image UNet's, frame by frame."""
    def passed_over(_module: Any, args: tuple[Any, ...], _output: Any) -> Any:
        return args[0]

    handles = [motion.register_forward_hook(passed_over)
               for block in unet.modules() for motion in getattr(block, "motion_modules", None) or ()]
    if not handles:
        raise UnsupportedMode("the loaded AnimateDiff UNet has no motion modules to pass over")
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
