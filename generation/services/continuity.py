"""Scene continuity: a render that starts from the last frame of an earlier output of the same
license, so that the two scenes join without a jump.

The earlier output must be a published plain render under that very license: a scene of a
story played under several licenses shows other people's likenesses in its last frame, which
the new render's one license does not cover.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage

from core.errors import ValidationFailed
from generation.models import RenderCast, RenderJob, RenderOutput
from generation.params import CONTINUE_FROM

NOT_CONTINUABLE = "There is no published output of this license with that id to continue from."


@dataclass(frozen=True)
class Continuation:
    """What a continued render starts from: the earlier output's file (copied into the job's
    folder; it becomes an ingredient of the new manifest) and its last frame at the render's size."""

    output_id: str
    path: Path
    first_frame: np.ndarray


def continuation_check(*, output_id: str, license_id: str) -> None:
    """Refuse (ValidationFailed on `continue_from`) a continuation this deployment cannot render
    or from an output that is not a published plain render of the license."""
    family = settings.BESPOKE_MODEL_FAMILY
    if settings.BESPOKE_MODEL_IMAGE_TO_VIDEO is None:
        raise ValidationFailed(f"This deployment's model ({family}) cannot continue a scene from an earlier "
                               "output: that needs an image-to-video model (the wan family's).", field=CONTINUE_FROM)
    if _continuable(output_id=output_id, license_id=license_id) is None:
        raise ValidationFailed(NOT_CONTINUABLE, field=CONTINUE_FROM)


def continuation_prepare(*, output_id: str, license_id: str, workdir: Path, width: int,
                         height: int) -> Continuation:
    """Copy the earlier output from storage into `workdir` and take its last frame, fitted to
    `width` x `height`. Raises ValidationFailed when it is no longer an output to continue from."""
    output = _continuable(output_id=output_id, license_id=license_id)
    if output is None:
        raise ValidationFailed(NOT_CONTINUABLE, field=CONTINUE_FROM)
    path = Path(workdir) / f"continues-{output_id}.mp4"
    with default_storage.open(output.file.name, "rb") as source, path.open("wb") as target:
        shutil.copyfileobj(source, target, 1 << 20)
    return Continuation(output_id=output_id, path=path, first_frame=last_frame(path, width=width, height=height))


def last_frame(path: Path, *, width: int, height: int) -> np.ndarray:
    """The video's last frame as (height, width, 3) uint8 RGB: scaled to cover that size, then
    cropped to it about the centre (so a different aspect ratio loses its edges, never distorts)."""
    import av
    from PIL import Image

    frame = None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            pass
        if frame is None:
            raise ValueError(f"{Path(path).name} has no video frames")
        image = frame.to_image()  # RGB
    if image.size != (width, height):
        scale = max(width / image.width, height / image.height)
        scaled = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
        image = image.resize(scaled, Image.Resampling.LANCZOS)
        left, top = (scaled[0] - width) // 2, (scaled[1] - height) // 2
        image = image.crop((left, top, left + width, top + height))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _continuable(*, output_id: str, license_id: str) -> RenderOutput | None:
    output = (RenderOutput.objects.filter(pk=output_id, job__license_id=license_id,
                                          job__status=RenderJob.Status.SUCCEEDED)
              .only("id", "file", "job_id").first())
    if output is None or RenderCast.objects.filter(job_id=output.job_id).exclude(license_id=license_id).exists():
        return None
    return output
