"""A still of a published output, made on request and never stored: the first frame,
decoded with PyAV and scaled down as a JPEG (a stored copy would be one more file of
the talent's likeness to track, export and erase)."""

from __future__ import annotations

import io

from django.core.files.storage import default_storage

from generation.models import RenderOutput

THUMBNAIL_MAX_SIDE = 160


class ThumbnailUnavailable(Exception):
    """The output's file is gone or does not decode."""


def output_thumbnail_jpeg(*, output: RenderOutput, max_side: int = THUMBNAIL_MAX_SIDE) -> bytes:
    import av

    try:
        with default_storage.open(output.file.name, "rb") as handle, av.open(handle, mode="r") as container:
            image = next(container.decode(video=0)).to_image()
    except (av.FFmpegError, StopIteration, OSError, ValueError) as error:
        raise ThumbnailUnavailable(str(error)) from error
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()
