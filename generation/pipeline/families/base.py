"""What every model family offers the render and training paths, and the paths a deployment configures."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from generation.pipeline.loading import LoadedModel
from generation.pipeline.rendering import RenderSettings, StepHook
from generation.pipeline.training import StepHook as TrainingStepHook
from generation.pipeline.training import TrainedLora, TrainingSettings


class UnknownFamily(ValueError):
    """No model family has this name."""


class UnsupportedMode(ValueError):
    """The family, or the model it loaded, cannot render this way."""


@dataclass(frozen=True)
class ModelPaths:
    """Where a deployment's weights are, as configured; each family reads the parts it uses."""

    base: Path
    motion_adapter: Path | None = None
    config: Path | None = None
    image_to_video: Path | None = None
    device: str = "auto"
    threads: int = 0
    compile: bool = False  # torch.compile the denoiser (generation.pipeline.acceleration)


class ModelFamily(Protocol):
    name: str
    size_multiple: int  # widths and heights are multiples of it (the model's own may be coarser)
    trains_text_encoder: bool  # whether a likeness LoRA may also adapt the text encoder

    def spec_for(self, paths: ModelPaths) -> Any:
        """The spec that loads the configured weights."""

    def build_tiny(self, destination: Path) -> None:
        """Build the family's tiny random model offline into `destination`."""

    def tiny_spec(self, root: Path, *, device: str = "cpu") -> Any:
        """The spec that loads the tiny model built into `root`."""

    def fingerprint(self, spec: Any) -> str:
        """SHA-256 over every file the model is loaded from."""

    def load(self, spec: Any) -> LoadedModel: ...

    def likeness_fits_image_to_video(self, spec: Any) -> bool:
        """Whether a likeness model trained for this deployment can render image-to-video on it (as the
        loaded model's `likeness_fits_image_to_video` says), known without loading the weights."""

    def render_text_to_video(self, loaded: LoadedModel, settings: RenderSettings,
                             on_step: StepHook | None = None) -> np.ndarray:
        """(frames, height, width, 3) uint8 RGB; an exception from `on_step` stops the render."""

    def render_keyframe(self, loaded: LoadedModel, settings: RenderSettings,
                        on_step: StepHook | None = None) -> np.ndarray:
        """One still from the prompt, on the text-to-video path's model with its likeness adapters on, as a
        (1, height, width, 3) uint8 RGB clip of one frame; `settings.num_frames` is not used."""

    def render_image_to_video(self, loaded: LoadedModel, settings: RenderSettings, first_frame: np.ndarray,
                              last_frame: np.ndarray | None = None, on_step: StepHook | None = None) -> np.ndarray:
        """As render_text_to_video, starting from `first_frame` (and ending on `last_frame` if given)."""

    def likeness_adapters(self, loaded: LoadedModel, adapters: Sequence[tuple[bytes, float]], *,
                          image_to_video: bool = False) -> AbstractContextManager[None]:
        """Each (LoRA file, weight) active inside the block on the pipeline that renders; removed after it."""

    def train_likeness(self, spec: Any, photos: list[np.ndarray], settings: TrainingSettings,
                       on_step: TrainingStepHook | None = None) -> TrainedLora:
        """A likeness LoRA from the reference photos, in the format `likeness_adapters` loads."""


def check_frame(frame: np.ndarray, what: str) -> None:
    if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3):
        raise ValueError(f"the {what} must be an RGB image, a (height, width, 3) uint8 array")
