"""Running the pipeline for one clip, with a per-step hook for progress and cancellation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

StepHook = Callable[[int, int], None]


@dataclass(frozen=True)
class RenderSettings:
    prompt: str
    negative_prompt: str
    num_frames: int
    width: int
    height: int
    steps: int
    guidance_scale: float
    seed: int


def render_frames(pipe: Any, settings: RenderSettings, on_step: StepHook | None = None, *,
                  num_frames: int | None = None, **conditioning: Any) -> np.ndarray:
    """Render a clip as (frames, height, width, 3) uint8 RGB.

    `on_step(done, total)` runs after every denoising step; an exception raised there
    stops the render at once, before any frame is decoded. A model that renders only some
    frame counts renders `num_frames` and keeps the first `settings.num_frames`;
    `conditioning` goes to the pipeline as it is (the image to start from).
    """
    import torch

    def callback(_pipe: Any, step: int, _timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        if on_step is not None:
            on_step(step + 1, settings.steps)
        return callback_kwargs

    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    with torch.inference_mode():
        output = pipe(
            prompt=settings.prompt,
            negative_prompt=settings.negative_prompt or None,
            num_frames=num_frames or settings.num_frames,
            height=settings.height,
            width=settings.width,
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance_scale,
            generator=generator,
            output_type="np",
            callback_on_step_end=callback,
            **conditioning,
        )
    frames = np.asarray(output.frames[0], dtype=np.float32)[: settings.num_frames]
    return (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)
