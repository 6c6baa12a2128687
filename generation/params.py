"""Render and training parameters: defaults, bounds and validation with plain-language errors.

Each set is a frozen dataclass whose fields carry their own limits (`bounded`, `one_of`);
`params_parse` checks a request's values against the field types and those limits, the
same way for both.
"""

from __future__ import annotations

import dataclasses
import typing
import uuid
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from core.errors import ValidationFailed
from generation.pipeline.families import ModelFamily, family_for

MAX_PROMPT_CHARS = 1000
# A render may start from an earlier output of its license instead of from text alone: the
# last frame of a clip it continues, or a keyframe (one still) it animates.
CONTINUE_FROM = "continue_from"
ANIMATE_KEYFRAME = "animate_keyframe"
STARTS_FROM = (CONTINUE_FROM, ANIMATE_KEYFRAME)
# A keyframe: one still of the likeness, shown to the producer before it is animated.
KEYFRAME = "keyframe"
CLIP_ONLY_PARAMS = ("num_frames", "fps")

Params = TypeVar("Params")


def bounded(default: float, low: float, high: float, *, multiple_of: int | None = None) -> Any:
    """A numeric field with inclusive bounds (and, optionally, a step it must be a multiple of)."""
    return dataclasses.field(default=default, metadata={"bounds": (low, high), "multiple_of": multiple_of})


def one_of(default: str, choices: tuple[str, ...]) -> Any:
    """A text field that takes one of a few values."""
    return dataclasses.field(default=default, metadata={"choices": choices})


@dataclass(frozen=True)
class RenderParams:
    num_frames: int = bounded(16, 2, 32)
    # The invisible watermark needs at least 128 pixels a side (provenance.watermark.MIN_SIDE).
    width: int = bounded(256, 128, 1024, multiple_of=8)
    height: int = bounded(256, 128, 1024, multiple_of=8)
    steps: int = bounded(12, 1, 100)
    guidance_scale: float = bounded(7.5, 0.0, 20.0)
    seed: int = bounded(0, 0, 2**32 - 1)
    fps: int = bounded(8, 1, 60)
    likeness_weight: float = bounded(1.0, 0.0, 1.5)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CLASS_NOUNS = ("person", "man", "woman", "child", "actor", "actress")


@dataclass(frozen=True)
class TrainingParams:
    steps: int = bounded(150, 1, 5000)
    rank: int = bounded(4, 1, 128)
    alpha: float = bounded(8.0, 0.5, 256)
    learning_rate: float = bounded(1e-3, 1e-6, 1e-2)
    prior_preservation: bool = True
    num_class_images: int = bounded(4, 1, 200)
    train_text_encoder: bool = False
    class_noun: str = one_of("person", CLASS_NOUNS)
    seed: int = bounded(0, 0, 2**32 - 1)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def params_parse(params_class: type[Params], raw: dict[str, Any] | None, *, kind: str) -> Params:
    """The parameters in ``raw`` over the class's defaults; the first invalid one, in the
    order the class declares them, raises ValidationFailed naming it."""
    raw = dict(raw or {})
    fields = {field.name: field for field in dataclasses.fields(params_class)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValidationFailed(f"Unknown {kind} parameters: {', '.join(unknown)}.", field=unknown[0])
    types = typing.get_type_hints(params_class)
    values = {name: _value(name, raw[name], types[name], field.metadata)
              for name, field in fields.items() if name in raw}
    return params_class(**values)


def _value(name: str, value: Any, expected: type, limits: typing.Mapping[str, Any]) -> Any:
    if expected is bool:
        if not isinstance(value, bool):
            raise ValidationFailed(f"{name} must be true or false.", field=name)
    elif expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationFailed(f"{name} must be a whole number.", field=name)
    elif expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationFailed(f"{name} must be a number.", field=name)
        value = float(value)
    elif expected is str:
        choices = limits.get("choices")
        if choices is not None and value not in choices:
            raise ValidationFailed(f"{name} must be one of {', '.join(choices)}.", field=name)
        if not isinstance(value, str):
            raise ValidationFailed(f"{name} must be text.", field=name)
    if "bounds" in limits:
        low, high = limits["bounds"]
        if not low <= value <= high:
            raise ValidationFailed(f"{name} must be between {_number(low)} and {_number(high)}.", field=name)
        step = limits.get("multiple_of")
        if step and value % step:
            raise ValidationFailed(f"{name} must be a multiple of {step}.", field=name)
    return value


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_params_parse(raw: dict[str, Any] | None) -> RenderParams:
    """As params_parse, then the configured model family's own limits (a Wan model renders sizes in
    multiples of 16 pixels; the frame count it rounds up to 4k+1 and drops the extra frames itself)."""
    params = params_parse(RenderParams, raw, kind="render")
    family = _model_family()
    for name in ("width", "height"):
        if getattr(params, name) % family.size_multiple:
            raise ValidationFailed(f"{name} must be a multiple of {family.size_multiple} for this deployment's "
                                   f"{family.name} model.", field=name)
    return params


@dataclass(frozen=True)
class RenderStart:
    """Where a render starts: from the prompt alone (a clip, or a keyframe), or from an earlier
    output named by `source` (`continue_from` or `animate_keyframe`)."""

    keyframe: bool = False
    source: str | None = None
    source_output_id: str | None = None

    def as_params(self) -> dict[str, Any]:
        """What is stored with the job's parameters (nothing for a plain clip)."""
        stored: dict[str, Any] = {KEYFRAME: True} if self.keyframe else {}
        if self.source is not None:
            stored[self.source] = self.source_output_id
        return stored


_SOURCE_ID_ERRORS = {
    CONTINUE_FROM: f"{CONTINUE_FROM} must be the id of an earlier output to continue from.",
    ANIMATE_KEYFRAME: f"{ANIMATE_KEYFRAME} must be the id of a keyframe's output to animate.",
}


def render_start_parse(raw: dict[str, Any] | None) -> tuple[dict[str, Any], RenderStart]:
    """A render request's parameters split into the render's own (for `render_params_parse`) and
    where it starts: `keyframe: true` (one still), or `continue_from` / `animate_keyframe` (the id
    of an earlier output whose frame the new clip starts from). At most one of the three."""
    rest = dict(raw or {})
    keyframe = rest.pop(KEYFRAME, False)
    if not isinstance(keyframe, bool):
        raise ValidationFailed(f"{KEYFRAME} must be true or false.", field=KEYFRAME)
    named = {name: value for name in STARTS_FROM if (value := rest.pop(name, None)) is not None}
    if len(named) > 1:
        raise ValidationFailed(f"A render starts from one earlier output: give {CONTINUE_FROM} or "
                               f"{ANIMATE_KEYFRAME}, not both.", field=ANIMATE_KEYFRAME)
    if keyframe:
        if named:
            raise ValidationFailed("A keyframe is made from the prompt alone; it cannot start from an earlier "
                                   "output.", field=KEYFRAME)
        for name in CLIP_ONLY_PARAMS:
            if name in rest:
                raise ValidationFailed(f"A keyframe is one still: {name} does not apply to it.", field=name)
        return rest, RenderStart(keyframe=True)
    if not named:
        return rest, RenderStart()
    [(source, value)] = named.items()
    try:
        if isinstance(value, str):
            return rest, RenderStart(source=source, source_output_id=str(uuid.UUID(value)))
    except ValueError:
        pass
    raise ValidationFailed(_SOURCE_ID_ERRORS[source], field=source)


def render_start_stored(stored: dict[str, Any]) -> tuple[dict[str, Any], RenderStart]:
    """A job's stored parameters split into its `RenderParams` fields and where it starts."""
    rest = dict(stored)
    keyframe = bool(rest.pop(KEYFRAME, False))
    named = [(name, rest.pop(name)) for name in STARTS_FROM if name in rest]
    source, output_id = named[0] if named else (None, None)
    return rest, RenderStart(keyframe=keyframe, source=source, source_output_id=output_id)


def training_params_parse(raw: dict[str, Any] | None) -> TrainingParams:
    params = params_parse(TrainingParams, raw, kind="training")
    family = _model_family()
    if params.train_text_encoder and not family.trains_text_encoder:
        raise ValidationFailed(f"This deployment's {family.name} model trains likenesses on its video model only; "
                               "train_text_encoder must be false.", field="train_text_encoder")
    return params


def _model_family() -> ModelFamily:
    from django.conf import settings

    return family_for(settings.BESPOKE_MODEL_FAMILY)


def prompt_clean(prompt: str, *, field: str = "prompt", required: bool = True) -> str:
    prompt = " ".join((prompt or "").split())
    if required and not prompt:
        raise ValidationFailed("Describe the scene to render.", field=field)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValidationFailed(f"Keep the {field.replace('_', ' ')} under {MAX_PROMPT_CHARS} characters.", field=field)
    return prompt
