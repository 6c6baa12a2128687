"""The visible "AI-generated" disclosure burned into every frame and every still.

The label is a badge: an "AI" mark (the letters AI in a white-edged square, the form of the
icon the EU's Code of Practice on marking and labelling offers) followed by the text, white
on a dark translucent box, centred across the lower third. It sits inside the frame's
central 60 % (its bottom at 80 % of the height), the part that every crop keeping 80 % of
the width and of the height holds, centred or off-centre: cropping the frame for a feed or
a thumbnail cannot cut it away. A frame too narrow to hold the badge there (under about
140 px) gets it as wide as the frame allows, and the spec says it is not crop-safe.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DISCLOSURE_TEXT = "AI-generated"
ICON_TEXT = "AI"
PLACEMENT = "lower third, centred, inside the central 60% of the frame (kept by any crop to 80% of each side)"
PLACEMENT_NARROW = "lower third, centred, as wide as the frame allows (too narrow to keep it inside the central 60%)"
SAFE_FRACTION = 0.2  # a crop may take this much of the width and of the height, from either side

_MIN_FONT_PX = 9
_ANTIALIAS_FROM_PX = 16
_FONT_HEIGHT_FRACTION = 0.045
_BOX_ALPHA = 170  # of 255: dark enough to keep white text legible on bright footage
_WHITE = (255, 255, 255, 255)


@dataclass(frozen=True)
class LabelSpec:
    """What was drawn and where, for the provenance manifest and the compliance record."""

    text: str
    icon: str  # the mark drawn before the text; empty where the frame was too narrow for it
    placement: str
    box_px: tuple[int, int, int, int]  # left, top, width, height in the labelled frame
    crop_safe: bool  # the badge lies inside the central 60 % of the frame

    def as_dict(self) -> dict[str, object]:
        left, top, width, height = self.box_px
        # Named, not a list: C2PA's CBOR would read a list of small numbers back as bytes.
        return {**asdict(self), "box_px": {"left": left, "top": top, "width": width, "height": height}}


def burn_disclosure(frames: np.ndarray, text: str = DISCLOSURE_TEXT) -> tuple[np.ndarray, LabelSpec]:
    """A copy of ``frames`` (F, H, W, 3 uint8 RGB; one frame for a still) with the badge on each.

    The badge is rendered once and alpha-composited onto every frame.
    """
    _check_frames(frames)
    if not text.strip():
        raise ValueError("disclosure text must not be empty")
    height, width = frames.shape[1:3]
    badge, crop_safe, has_icon = _badge(width, height, text)
    badge_height, badge_width = badge.shape[:2]
    left = (width - badge_width) // 2
    top = height - _margin(height) - badge_height
    if top < 0 or badge_height > height // 2:
        raise ValueError(f"frame height {height} px is too small for a readable disclosure")
    if top < _margin(height):
        crop_safe = False

    labelled = frames.copy()
    region = labelled[:, top:top + badge_height, left:left + badge_width]
    colour = badge[..., :3].astype(np.uint16)
    alpha = badge[..., 3:].astype(np.uint16)
    # Integer "over" compositing: the weighted sum is at most 255 * 255, so uint16 cannot overflow.
    region[...] = (region * (255 - alpha) + colour * alpha + 127) // 255
    return labelled, LabelSpec(text=text, icon=ICON_TEXT if has_icon else "", placement=PLACEMENT if crop_safe else PLACEMENT_NARROW,
                               box_px=(left, top, badge_width, badge_height), crop_safe=crop_safe)


def _margin(side: int) -> int:
    """Pixels a crop may take from either end of a side."""
    return math.ceil(side * SAFE_FRACTION)


def _check_frames(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        raise ValueError(f"frames must be an (F, H, W, 3) RGB array, got shape {shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")


def _badge(width: int, height: int, text: str) -> tuple[np.ndarray, bool, bool]:
    """The badge as a (height, width, 4) RGBA array, whether it fits the central 60 %, and
    whether it carries the mark."""
    font_px = max(_MIN_FONT_PX, round(height * _FONT_HEIGHT_FRACTION))
    safe_width = width - 2 * _margin(width)
    layout = _fitting_layout(text, font_px, safe_width)
    crop_safe = layout is not None
    for icon in (True, False):  # a frame too narrow for the mark keeps the words
        if layout is None:
            layout = _fitting_layout(text, font_px, width, icon=icon)
    if layout is None:
        raise ValueError(f"frame width {width} px is too small to show {text!r} at a readable size")
    font, mode, pad, gap, icon_side = layout
    left, top, _, bottom = font.getbbox(text, mode=mode)
    text_width = round(font.getlength(text, mode=mode))
    box_height = max(icon_side, bottom - top) + 2 * pad
    box_width = pad + icon_side + gap + text_width + pad

    box = Image.new("RGBA", (box_width, box_height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(box)
    draw.fontmode = mode
    draw.rounded_rectangle((0, 0, box_width - 1, box_height - 1), radius=max(1, pad), fill=(0, 0, 0, _BOX_ALPHA))
    if icon_side:
        _draw_icon(draw, left=pad, top=(box_height - icon_side) // 2, side=icon_side)
    draw.fontmode = mode
    draw.text((pad + icon_side + gap - left, (box_height - (bottom - top)) // 2 - top), text, font=font, fill=_WHITE)
    return np.asarray(box), crop_safe, icon_side > 0


def _draw_icon(draw: ImageDraw.ImageDraw, *, left: int, top: int, side: int) -> None:
    """The letters AI in a white-edged square."""
    edge = max(1, side // 12)
    draw.rectangle((left, top, left + side - 1, top + side - 1), outline=_WHITE, width=edge)
    font = _font(max(_MIN_FONT_PX - 2, round(side * 0.55)))
    mode = "L" if font.size >= _ANTIALIAS_FROM_PX else "1"
    x0, y0, x1, y1 = font.getbbox(ICON_TEXT, mode=mode)
    draw.fontmode = mode
    draw.text((left + (side - (x1 - x0)) // 2 - x0, top + (side - (y1 - y0)) // 2 - y0), ICON_TEXT, font=font,
              fill=_WHITE)


def _fitting_layout(text: str, size: int, max_width: int, *, icon: bool = True
                    ) -> tuple[ImageFont.FreeTypeFont, str, int, int, int] | None:
    """The largest font of at most ``size`` px whose badge fits ``max_width``: (font, render
    mode, padding, gap, icon side; 0 without the mark); None when even the smallest readable
    one does not."""
    for candidate in range(size, _MIN_FONT_PX - 1, -1):
        font = _font(candidate)
        # Small anti-aliased glyphs turn into grey smudges; hinted 1-bit glyphs stay legible.
        mode = "L" if candidate >= _ANTIALIAS_FROM_PX else "1"
        pad = max(1, candidate // 4) if icon else 1
        gap, icon_side = (pad, round(candidate * 1.3)) if icon else (0, 0)
        if pad + icon_side + gap + font.getlength(text, mode=mode) + pad <= max_width:
            return font, mode, pad, gap, icon_side
    return None


def _font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RuntimeError("Pillow was built without FreeType; cannot render the disclosure")
    return font
