"""Synthetic "talent photos" for the demo and the tests: a face-like figure, jittered in
position, size and background, so no real person's likeness is ever needed to show or
test the training path."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw


def synthetic_face_photos(count: int, *, size: int = 256, seed: int = 0, fmt: str = "JPEG") -> list[bytes]:
    rng = np.random.default_rng(seed)
    photos = []
    for _ in range(count):
        background = tuple(int(c) for c in rng.integers(40, 220, 3))
        image = Image.new("RGB", (size, size), background)
        draw = ImageDraw.Draw(image)
        cx, cy = size / 2 + rng.integers(-size // 16, size // 16 + 1, 2)
        r = size * rng.uniform(0.26, 0.32)
        draw.ellipse((cx - r, cy - r * 1.15, cx + r, cy + r * 1.15), fill=(224, 172, 125))
        for side in (-1, 1):
            ex, ey, er = cx + side * r * 0.4, cy - r * 0.25, r * 0.12
            draw.ellipse((ex - er, ey - er, ex + er, ey + er), fill=(40, 70, 160))
        draw.arc((cx - r * 0.45, cy + r * 0.1, cx + r * 0.45, cy + r * 0.6), 20, 160, fill=(150, 40, 50), width=max(2, size // 64))
        draw.rectangle((cx - r * 1.1, cy - r * 1.25, cx + r * 1.1, cy - r * 0.85), fill=(60, 40, 20))
        out = io.BytesIO()
        image.save(out, format=fmt, quality=92) if fmt == "JPEG" else image.save(out, format=fmt)
        photos.append(out.getvalue())
    return photos
