"""Renders that start from an earlier output of the same license instead of from the prompt alone:
a scene that continues from the last frame of an earlier clip (so that the two join without a
jump), or a clip that animates a keyframe the producer approved. Both render image-to-video,
and the earlier output's signed file becomes an ingredient of the new manifest.

Whose likeness may be carried over. The earlier output's last frame shows every likeness it
was rendered under, so every license of the earlier output (its own and, for a scene, each
role's) must be one the new render is made under and asks the gate about: a plain render
continues only a published output of its one license (a scene with other people in it is
refused); a scene continues only a published output whose licenses are all in its cast.
A scene continues only a published scene of the same story requested by the same person
(the viewer playing it, or the producer), never someone else's playthrough
(`scene_continuation_check`). The new render is then gated as any render is, at request,
claim, every few steps and publication, under every license the earlier frame carries, so a
revocation of any of them refuses the continuation too; the worker checks the earlier
output again before it reads a frame of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage

from core.errors import ValidationFailed
from generation.models import RenderCast, RenderJob, RenderOutput
from generation.params import ANIMATE_KEYFRAME, CONTINUE_FROM
from generation.pipeline.families import ModelPaths, family_for
from provenance.manifest import ANIMATES_KEYFRAME, CONTINUES

if TYPE_CHECKING:
    from PIL import Image

NOT_CONTINUABLE = "There is no published output of this license with that id to continue from."
NOT_ANIMATABLE = "There is no published keyframe of this license with that id to animate."
NO_SCENE_TO_CONTINUE = "There is no published scene of this story, requested by you, with that id to continue from."
LIKENESS_DOES_NOT_FIT = (
    "This deployment cannot {what} with a likeness model: its image-to-video model's transformer has another "
    "shape than the text-to-video one likeness models are trained on. Use Wan 2.2 TI2V-5B for both, or an "
    "image-to-video model with the same transformer as the text-to-video one.")


@dataclass(frozen=True)
class _Source:
    """What one way of starting from an earlier output takes, and how it is refused."""

    keyframe: bool  # whether the earlier output is a keyframe (a still) or a clip
    relation: str  # how the new manifest names it (provenance.manifest)
    not_found: str
    what: str  # what the render does, for the refusal of a deployment without image-to-video


SOURCES = {
    CONTINUE_FROM: _Source(keyframe=False, relation=CONTINUES, not_found=NOT_CONTINUABLE,
                           what="continue a scene from an earlier output"),
    ANIMATE_KEYFRAME: _Source(keyframe=True, relation=ANIMATES_KEYFRAME, not_found=NOT_ANIMATABLE,
                              what="animate a keyframe"),
}


@dataclass(frozen=True)
class StartingPoint:
    """What a render starts from: the earlier output's file (copied into the job's folder; it
    becomes an ingredient of the new manifest, under `relation`) and the frame the new clip
    starts from, at the render's size: a clip's last frame, or a keyframe's one."""

    output_id: str
    relation: str
    path: Path
    first_frame: np.ndarray


def can_start_from_a_frame(*, likeness: bool = False) -> bool:
    """Whether this deployment's model renders image-to-video (what a start from an earlier output needs),
    with a likeness model when `likeness`."""
    return settings.BESPOKE_MODEL_IMAGE_TO_VIDEO is not None and (not likeness or _likeness_fits_image_to_video())


def starting_point_check(*, source: str, output_id: str, license_id: str,
                         cast_license_ids: Sequence[str] = (), likeness: bool = False) -> None:
    """Refuse (ValidationFailed on the `source` parameter) a start from an earlier output that
    this deployment cannot render (with a likeness model, when `likeness`), or from one that is
    not a published output of the kind `source` takes (a clip to continue, a keyframe to animate)
    made under `license_id` and `cast_license_ids` (a scene's roles' licenses) only."""
    kind = SOURCES[source]
    _image_to_video_required(source, likeness=likeness)
    if _startable(source=source, output_id=output_id, license_ids=[license_id, *cast_license_ids]) is None:
        raise ValidationFailed(kind.not_found, field=source)


def scene_continuation_check(*, output_id: str, story_id: str, requested_by_id: object,
                             cast: dict[str, str], likeness: bool = False) -> None:
    """Refuse (ValidationFailed on `continue_from`) a scene's continuation from an earlier output
    that is not a published scene of the same story requested by the same person, or whose
    licenses are not all among the new scene's `cast` (role -> license id), naming the roles
    of the earlier scene whose likeness the new one is not licensed to show (or, when `likeness`,
    that this deployment cannot render image-to-video with a likeness model)."""
    _image_to_video_required(CONTINUE_FROM, likeness=likeness)
    earlier = (RenderOutput.objects.filter(pk=output_id, job__status=RenderJob.Status.SUCCEEDED,
                                           job__interactive=True, job__story_id=story_id,
                                           job__requested_by_id=requested_by_id)
               .select_related("job").only("id", "job_id", "job__license_id", "job__params").first())
    if earlier is None or earlier.job.is_keyframe:
        raise ValidationFailed(NO_SCENE_TO_CONTINUE, field=CONTINUE_FROM)
    licensed = {str(license_id) for license_id in cast.values()}
    uncovered = sorted(role for role, license_id in RenderCast.objects.filter(job_id=earlier.job_id)
                       .values_list("role", "license_id") if str(license_id) not in licensed)
    if uncovered or str(earlier.job.license_id) not in licensed:
        raise ValidationFailed(
            f"The scene to continue from shows {', '.join(uncovered) or 'a likeness'} under a license this "
            "scene is not made under: its last frame carries that likeness, so every license of the earlier "
            "scene must be in this scene's cast.", field=CONTINUE_FROM, code="continuity_not_covered")


def starting_point_prepare(*, source: str, output_id: str, license_id: str, workdir: Path, width: int,
                           height: int, cast_license_ids: Sequence[str] = ()) -> StartingPoint:
    """Copy the earlier output from storage into `workdir` and take the frame the render starts
    from, fitted to `width` x `height`. Raises ValidationFailed when it is no longer one to start
    from (the rule of `starting_point_check`)."""
    kind = SOURCES[source]
    output = _startable(source=source, output_id=output_id, license_ids=[license_id, *cast_license_ids])
    if output is None:
        raise ValidationFailed(kind.not_found, field=source)
    path = Path(workdir) / f"{kind.relation}-{output_id}{Path(output.file.name).suffix.lower()}"
    with default_storage.open(output.file.name, "rb") as stored, path.open("wb") as target:
        shutil.copyfileobj(stored, target, 1 << 20)
    frame: Callable[..., np.ndarray] = still_frame if kind.keyframe else last_frame
    return StartingPoint(output_id=output_id, relation=kind.relation, path=path,
                         first_frame=frame(path, width=width, height=height))


def last_frame(path: Path, *, width: int, height: int) -> np.ndarray:
    """The video's last frame as (height, width, 3) uint8 RGB, fitted to that size (`_fitted`)."""
    import av

    frame = None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            pass
        if frame is None:
            raise ValueError(f"{Path(path).name} has no video frames")
        image = frame.to_image()  # RGB
    return _fitted(image, width=width, height=height)


def still_frame(path: Path, *, width: int, height: int) -> np.ndarray:
    """The still image as (height, width, 3) uint8 RGB, fitted to that size (`_fitted`)."""
    from PIL import Image

    with Image.open(path) as image:
        return _fitted(image.convert("RGB"), width=width, height=height)


def _fitted(image: Image.Image, *, width: int, height: int) -> np.ndarray:
    """Scaled to cover `width` x `height`, then cropped to it about the centre (so a different
    aspect ratio loses its edges, never distorts)."""
    from PIL import Image

    if image.size != (width, height):
        scale = max(width / image.width, height / image.height)
        scaled = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
        image = image.resize(scaled, Image.Resampling.LANCZOS)
        left, top = (scaled[0] - width) // 2, (scaled[1] - height) // 2
        image = image.crop((left, top, left + width, top + height))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _image_to_video_required(source: str, *, likeness: bool = False) -> None:
    if not can_start_from_a_frame():
        raise ValidationFailed(f"This deployment's model ({settings.BESPOKE_MODEL_FAMILY}) cannot "
                               f"{SOURCES[source].what}: that needs an image-to-video model (the wan family's).",
                               field=source)
    if not can_start_from_a_frame(likeness=likeness):
        raise ValidationFailed(LIKENESS_DOES_NOT_FIT.format(what=SOURCES[source].what), field=source,
                               code="likeness_not_image_to_video")


def _likeness_fits_image_to_video() -> bool:
    """Whether a likeness model trained for this deployment renders on its image-to-video model (read from
    the model's configs, so a worker never fails mid-job loading a LoRA of the wrong shape)."""
    family = family_for(settings.BESPOKE_MODEL_FAMILY)
    return family.likeness_fits_image_to_video(family.spec_for(ModelPaths(
        base=settings.BESPOKE_MODEL_BASE, image_to_video=settings.BESPOKE_MODEL_IMAGE_TO_VIDEO)))


def _startable(*, source: str, output_id: str, license_ids: Sequence[str]) -> RenderOutput | None:
    """The published output to start from, when every license it was made under is in `license_ids`."""
    output = (RenderOutput.objects.filter(pk=output_id, job__license_id__in=license_ids,
                                          job__status=RenderJob.Status.SUCCEEDED)
              .select_related("job").only("id", "file", "job_id", "job__params").first())
    if output is None or output.job.is_keyframe != SOURCES[source].keyframe:
        return None
    if RenderCast.objects.filter(job_id=output.job_id).exclude(license_id__in=license_ids).exists():
        return None
    return output
