"""A still of a published output, made on request and never stored: a clip's first frame,
decoded with PyAV, or a keyframe's image, scaled down as a JPEG (a stored copy would be one
more file of the talent's likeness to track, export and erase)."""

from __future__ import annotations

import io
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from PIL import Image, UnidentifiedImageError

from generation.models import RenderOutput

THUMBNAIL_MAX_SIDE = 160


class ThumbnailUnavailable(Exception):
    """The output's file is gone or does not decode."""


def output_thumbnail_jpeg(*, output: RenderOutput, max_side: int = THUMBNAIL_MAX_SIDE) -> bytes:
    image = _first_image(output)
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def _first_image(output: RenderOutput) -> Image.Image:
    if PurePosixPath(output.file.name).suffix.lower() == ".png":
        try:
            with default_storage.open(output.file.name, "rb") as handle, Image.open(handle) as image:
                return image.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise ThumbnailUnavailable(str(error)) from error
    import av

    try:
        with default_storage.open(output.file.name, "rb") as handle, av.open(handle, mode="r") as container:
            return next(container.decode(video=0)).to_image()
    except (av.FFmpegError, StopIteration, OSError, ValueError) as error:
        raise ThumbnailUnavailable(str(error)) from error
