"""Likeness uploads (reference photos, identity evidence), checked by content against an
allow-list and bounded in bytes, pixels and duration.

Images are decoded, orientation applied, and re-encoded: nothing of the upload survives
but the pixels (no EXIF, no GPS, no ICC profile, no trailing bytes). Videos must decode as
H.264/VP9/AV1 in MP4 or WebM within the bounds. A refused upload raises ValidationFailed
with a message a person can act on.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from PIL import Image, ImageOps, UnidentifiedImageError

from bespoke.errors import ValidationFailed

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
EXTENSIONS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}


@dataclass(frozen=True)
class PreparedPhoto:
    png: bytes
    width: int
    height: int


def prepare_reference_photo(data: bytes, *, filename: str, resolution: int, max_bytes: int, max_pixels: int,
                            min_side: int) -> PreparedPhoto:
    """A training photo: a checked image, cropped to a square at the training resolution."""
    return prepare_image(data, filename=filename, max_bytes=max_bytes, max_pixels=max_pixels, min_side=min_side,
                         square=resolution)


def _check_size(data: bytes, max_bytes: int, field: str) -> None:
    if not data:
        raise ValidationFailed("The file is empty.", field=field)
    if len(data) > max_bytes:
        raise ValidationFailed(f"The file is {len(data) / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB.",
                               field=field)


def prepare_image(data: bytes, *, filename: str, max_bytes: int, max_pixels: int, min_side: int,
                  square: int | None = None, field: str = "photo") -> PreparedPhoto:
    """Check an image by content and re-encode it as PNG, cropped to `square` pixels if given."""
    _check_size(data, max_bytes, field)
    claimed = EXTENSIONS.get(PurePath(filename or "").suffix.lower())
    if filename and PurePath(filename).suffix and claimed is None:
        raise ValidationFailed("Upload a JPEG, PNG or WebP photo.", field=field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = probe.size
            if width * height > max_pixels:
                raise ValidationFailed(f"The photo is {width}×{height} pixels; the limit is {max_pixels:,} pixels.",
                                       field=field)
            if claimed and probe.format != claimed:
                raise ValidationFailed(f"The file is named as {claimed} but is a {probe.format} image.", field=field)
            probe.verify()
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            image.load()
    except ValidationFailed:
        raise
    except UnidentifiedImageError:
        raise ValidationFailed("This is not a JPEG, PNG or WebP image.", field=field) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValidationFailed("The photo has too many pixels to process safely.", field=field) from None
    except (OSError, SyntaxError, ValueError):
        raise ValidationFailed("The image is damaged or truncated.", field=field) from None
    if min(width, height) < min_side:
        raise ValidationFailed(f"The photo is {width}×{height}; use one at least {min_side} pixels on each side.",
                               field=field)
    image = ImageOps.exif_transpose(image).convert("RGB")
    if square is not None:
        image = ImageOps.fit(image, (square, square), method=Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return PreparedPhoto(png=out.getvalue(), width=image.width, height=image.height)


VIDEO_FORMATS = {"mp4": "video/mp4", "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4", "matroska,webm": "video/webm"}
VIDEO_CODECS = ("h264", "vp9", "av1", "vp8", "hevc")


def check_video(data: bytes, *, max_bytes: int, max_seconds: int, field: str = "file") -> str:
    """Check that an upload is a short, decodable MP4 or WebM video; returns its media type."""
    import av

    _check_size(data, max_bytes, field)
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            media_type = VIDEO_FORMATS.get(container.format.name)
            streams = container.streams.video
            if media_type is None or not streams:
                raise ValidationFailed("Upload an MP4 or WebM video.", field=field)
            stream = streams[0]
            if stream.codec_context.name not in VIDEO_CODECS:
                raise ValidationFailed(f"The video codec {stream.codec_context.name} is not accepted.", field=field)
            seconds = float(container.duration / 1_000_000) if container.duration else 0.0
            if seconds > max_seconds:
                raise ValidationFailed(f"The video lasts {seconds:.0f} s; the limit is {max_seconds} s.", field=field)
            next(container.decode(video=0))
    except ValidationFailed:
        raise
    except (av.FFmpegError, StopIteration, ValueError, OSError):
        raise ValidationFailed("This is not a readable MP4 or WebM video.", field=field) from None
    return media_type
