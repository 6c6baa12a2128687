"""One PNG or JPEG still, decoded for the watermark reader within size limits.

The header is checked before any pixel is decoded; a JPEG is decoded at reduced scale
where its DCT allows (Pillow's draft mode), and the result is scaled to the reader's size.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from provenance.watermark_tile import reader_size

STILL_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})


class StillError(ValueError):
    """A still that is not read; ``reason`` is "frame_side", "frame_pixels" or "unreadable"."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def is_still(path: Path) -> bool:
    """Whether ``path`` names a PNG or JPEG still (by its suffix, which uploads are given by content)."""
    return Path(path).suffix.lower() in STILL_SUFFIXES


def still_read(path: Path, *, max_side: int, max_pixels: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(frame, (width, height) declared) for the still at ``path``.

    The frame is (H, W, 3) uint8 RGB at the watermark reader's size. Raises StillError for
    a file that cannot be decoded as an image, or one larger than ``max_side`` a side or
    ``max_pixels`` in all, before decoding it.
    """
    name = Path(path).name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if max(width, height) > max_side:
                    raise StillError(f"{name}: images larger than {max_side} pixels a side are not read",
                                     reason="frame_side")
                if width * height > max_pixels:
                    raise StillError(f"{name}: images of more than {max_pixels} pixels are not read",
                                     reason="frame_pixels")
                if min(width, height) < 1:
                    raise StillError(f"{name}: the image is empty", reason="unreadable")
                target = reader_size(height, width)
                image.draft("RGB", target)  # JPEG only: decodes at 1/2, 1/4 or 1/8 scale, never below target
                pixels = np.asarray(image.convert("RGB"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise StillError(f"{name}: too many pixels ({exc})", reason="frame_pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, StillError):
            raise
        raise StillError(f"{name}: cannot decode image ({exc})", reason="unreadable") from exc
    if (pixels.shape[1], pixels.shape[0]) != target:
        pixels = cv2.resize(pixels, target, interpolation=cv2.INTER_AREA)
    return pixels, (width, height)
