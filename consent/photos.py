"""Reference photo intake: checked by content against an allow-list, bounded in bytes and
pixels, orientation applied, metadata stripped, cropped and re-encoded.

Nothing of the upload survives but the re-encoded pixels: no EXIF, no GPS, no ICC
profile, no trailing bytes. A refused upload raises ValidationFailed with a message a
person can act on.
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
    if not data:
        raise ValidationFailed("The file is empty.", field="photo")
    if len(data) > max_bytes:
        raise ValidationFailed(f"The photo is {len(data) / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB.",
                               field="photo")
    claimed = EXTENSIONS.get(PurePath(filename or "").suffix.lower())
    if filename and PurePath(filename).suffix and claimed is None:
        raise ValidationFailed("Upload a JPEG, PNG or WebP photo.", field="photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = probe.size
            if width * height > max_pixels:
                raise ValidationFailed(f"The photo is {width}×{height} pixels; the limit is {max_pixels:,} pixels.",
                                       field="photo")
            if claimed and probe.format != claimed:
                raise ValidationFailed(f"The file is named as {claimed} but is a {probe.format} image.", field="photo")
            probe.verify()
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            image.load()
    except ValidationFailed:
        raise
    except UnidentifiedImageError:
        raise ValidationFailed("This is not a JPEG, PNG or WebP image.", field="photo") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValidationFailed("The photo has too many pixels to process safely.", field="photo") from None
    except (OSError, SyntaxError, ValueError):
        raise ValidationFailed("The image is damaged or truncated.", field="photo") from None
    if min(width, height) < min_side:
        raise ValidationFailed(f"The photo is {width}×{height}; use one at least {min_side} pixels on each side.",
                               field="photo")
    image = ImageOps.exif_transpose(image).convert("RGB")
    image = ImageOps.fit(image, (resolution, resolution), method=Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return PreparedPhoto(png=out.getvalue(), width=resolution, height=resolution)
