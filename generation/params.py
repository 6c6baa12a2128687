"""Render parameters: defaults, bounds and validation with plain-language errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.errors import ValidationFailed

MAX_PROMPT_CHARS = 1000


@dataclass(frozen=True)
class RenderParams:
    num_frames: int = 16
    width: int = 256
    height: int = 256
    steps: int = 12
    guidance_scale: float = 7.5
    seed: int = 0
    fps: int = 8
    likeness_weight: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_INT_BOUNDS: dict[str, tuple[int, int]] = {
    "num_frames": (2, 32),
    # The invisible watermark needs at least 128 pixels a side (provenance.watermark.MIN_SIDE).
    "width": (128, 1024),
    "height": (128, 1024),
    "steps": (1, 100),
    "seed": (0, 2**32 - 1),
    "fps": (1, 60),
}
_FLOAT_BOUNDS: dict[str, tuple[float, float]] = {"guidance_scale": (0.0, 20.0), "likeness_weight": (0.0, 1.5)}


def render_params_parse(raw: dict[str, Any] | None) -> RenderParams:
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(RenderParams.__dataclass_fields__))
    if unknown:
        raise ValidationFailed(f"Unknown render parameters: {', '.join(unknown)}.", field=unknown[0])
    values: dict[str, Any] = {}
    for name, (low, high) in _INT_BOUNDS.items():
        if name not in raw:
            continue
        value = raw[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationFailed(f"{name} must be a whole number.", field=name)
        if not low <= value <= high:
            raise ValidationFailed(f"{name} must be between {low} and {high}.", field=name)
        values[name] = value
    for name in ("width", "height"):
        if values.get(name, 8) % 8:
            raise ValidationFailed(f"{name} must be a multiple of 8.", field=name)
    for name, (low, high) in _FLOAT_BOUNDS.items():
        if name not in raw:
            continue
        value = raw[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationFailed(f"{name} must be a number.", field=name)
        if not low <= float(value) <= high:
            raise ValidationFailed(f"{name} must be between {low:g} and {high:g}.", field=name)
        values[name] = float(value)
    return RenderParams(**values)


def prompt_clean(prompt: str, *, field: str = "prompt", required: bool = True) -> str:
    prompt = " ".join((prompt or "").split())
    if required and not prompt:
        raise ValidationFailed("Describe the scene to render.", field=field)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValidationFailed(f"Keep the {field.replace('_', ' ')} under {MAX_PROMPT_CHARS} characters.", field=field)
    return prompt
