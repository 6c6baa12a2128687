"""Visible "AI-generated" disclosure burned into video frames."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DISCLOSURE_TEXT = "AI-generated"
PLACEMENT = "bottom-left band"

_MIN_FONT_PX = 9
_ANTIALIAS_FROM_PX = 16
_FONT_HEIGHT_FRACTION = 0.05
_BAND_TO_FONT_RATIO = 1.6
_BAND_ALPHA = 160  # of 255: dark enough to keep white text legible on bright footage
_TEXT_RGBA = (255, 255, 255, 255)


@dataclass(frozen=True)
class LabelSpec:
    """Where and how the disclosure was drawn, for the provenance manifest."""

    text: str
    placement: str
    band_height_px: int

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)


def burn_disclosure(
    frames: np.ndarray, text: str = DISCLOSURE_TEXT
) -> tuple[np.ndarray, LabelSpec]:
    """Return a copy of ``frames`` (F, H, W, 3 uint8 RGB) with ``text`` on a dark bottom band.

    The overlay is rendered once and alpha-composited onto every frame.
    """
    _check_frames(frames)
    if not text.strip():
        raise ValueError("disclosure text must not be empty")
    height, width = frames.shape[1:3]
    overlay = _render_overlay(width, height, text)
    band_height = overlay.shape[0]

    labelled = frames.copy()
    band = labelled[:, height - band_height :]
    colour = overlay[..., :3].astype(np.uint16)
    alpha = overlay[..., 3:].astype(np.uint16)
    # Integer "over" compositing: the weighted sum is at most 255 * 255, so uint16 cannot overflow.
    band[...] = (band * (255 - alpha) + colour * alpha + 127) // 255
    return labelled, LabelSpec(text=text, placement=PLACEMENT, band_height_px=band_height)


def _check_frames(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        raise ValueError(f"frames must be an (F, H, W, 3) RGB array, got shape {shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")


def _render_overlay(width: int, height: int, text: str) -> np.ndarray:
    """Render the band with its text as a (band_height, width, 4) RGBA array."""
    margin = max(1, width // 64)
    font_px = max(_MIN_FONT_PX, round(height * _FONT_HEIGHT_FRACTION))
    font, mode = _fitting_font(text, font_px, width - 2 * margin)
    left, top, _, bottom = font.getbbox(text, mode=mode)
    band_height = max(round(font.size * _BAND_TO_FONT_RATIO), bottom - top + 2 * margin)
    if band_height > height // 2:
        raise ValueError(f"frame height {height} px is too small for a readable disclosure")

    band = Image.new("RGBA", (width, band_height), (0, 0, 0, _BAND_ALPHA))
    y = (band_height - (bottom - top)) // 2 - top
    draw = ImageDraw.Draw(band)
    draw.fontmode = mode
    draw.text((margin - left, y), text, font=font, fill=_TEXT_RGBA)
    return np.asarray(band)


def _fitting_font(text: str, size: int, max_width: int) -> tuple[ImageFont.FreeTypeFont, str]:
    """The largest font of at most ``size`` px, with its render mode, fitting ``max_width``."""
    for candidate in range(size, _MIN_FONT_PX - 1, -1):
        font = ImageFont.load_default(size=candidate)
        if not isinstance(font, ImageFont.FreeTypeFont):
            raise RuntimeError("Pillow was built without FreeType; cannot render the disclosure")
        # Small anti-aliased glyphs turn into grey smudges; hinted 1-bit glyphs stay legible.
        mode = "L" if candidate >= _ANTIALIAS_FROM_PX else "1"
        if font.getlength(text, mode=mode) <= max_width:
            return font, mode
    raise ValueError(f"frame width is too small to show {text!r} at a readable size")
