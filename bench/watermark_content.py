"""Content and attacks for the watermark benchmark (bench/watermark.py).

Clips of four kinds (a panning multi-scale colour texture; a gradient with moving discs
and grain; a panning drawn landscape with sun, mountains, trees, a house and text; smooth
colour blobs with grain), unmarked stills of ten kinds for the false-positive sweep, and
the attacks a copy of a published clip meets.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

KINDS = ("texture", "gradient+discs", "scene", "blobs")
STILL_KINDS = ("gradient", "noise", "texture", "scene", "stripes", "tiled", "clip frame", "flat", "textured gradient",
               "noisy scene")
ATTACKS = ("none", "crf28", "crf40", "quarter_area", "crop_centre", "crop_off", "png_frame", "jpeg75_frame",
           "cut_1s", "bright+10", "bright-10", "contrast+10", "contrast-10")
# Issue 17's goal (recovery >= 0.95) covers every attack but crf28, which is measured because version 1 met it.
GOAL_ATTACKS = tuple(attack for attack in ATTACKS if attack != "crf28")
# Attacks on a still (an image output), each saved as PNG unless it says JPEG (quality 75).
STILL_ATTACKS = ("png", "jpeg75", "quarter_area", "quarter_area_jpeg75", "crop_centre", "crop_off", "crop_off_jpeg75")


def texture(height: int, width: int, rng: np.random.Generator,
            scales: tuple[tuple[int, float], ...] = ((32, 1.0), (8, 0.5), (2, 0.2))) -> np.ndarray:
    """(H, W, 3) zero-mean unit-variance colour texture, the sum of bicubic-upsampled noise at ``scales``."""
    out = np.zeros((height, width, 3), np.float32)
    for scale, weight in scales:
        cells = rng.normal(0, 1, (height // scale + 2, width // scale + 2, 3)).astype(np.float32)
        layer = cv2.resize(cells, (cells.shape[1] * scale, cells.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
        out += weight * layer[:height, :width]
    return out / out.std()


def gradient(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) linear or radial colour gradient between two random colours."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    a, b = rng.uniform(10, 245, (2, 3))
    if rng.random() < 0.5:
        angle = rng.uniform(0, np.pi)
        t = np.cos(angle) * x + np.sin(angle) * y
    else:
        t = np.hypot(y - rng.uniform(0, height), x - rng.uniform(0, width))
    t = (t - t.min()) / (np.ptp(t) + 1e-6)
    return a + (b - a) * t[..., None]


def scene(height: int, width: int, rng: np.random.Generator) -> Image.Image:
    """A drawn landscape: sky gradient, sun, mountains, ground, trees, maybe a house and text."""
    image = Image.fromarray(np.clip(gradient(height, width, rng), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    horizon = int(height * rng.uniform(0.45, 0.7))
    sun_x, sun_y, radius = rng.uniform(0, width), rng.uniform(0, horizon * 0.6), rng.uniform(10, 30)
    draw.ellipse([sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius],
                 fill=tuple(rng.integers(200, 256, 3).tolist()))
    for _ in range(rng.integers(2, 5)):
        x0, peak = rng.uniform(-width * 0.3, width), rng.uniform(height * 0.15, horizon)
        draw.polygon([(x0, horizon), (x0 + rng.uniform(60, 250), peak), (x0 + rng.uniform(120, 400), horizon)],
                     fill=tuple(rng.integers(40, 160, 3).tolist()))
    draw.rectangle([0, horizon, width, height], fill=tuple(rng.integers(30, 140, 3).tolist()))
    for _ in range(rng.integers(3, 10)):
        x, y, size = rng.uniform(0, width), rng.uniform(horizon, height), rng.uniform(6, 25)
        draw.rectangle([x - size / 5, y - size, x + size / 5, y], fill=(70, 45, 20))
        draw.ellipse([x - size, y - 2.6 * size, x + size, y - 0.8 * size], fill=tuple(rng.integers(20, 120, 3).tolist()))
    if rng.random() < 0.6:
        x, y, size = rng.uniform(0, width * 0.7), rng.uniform(horizon, height * 0.9), rng.uniform(20, 60)
        draw.rectangle([x, y - size, x + 1.4 * size, y], fill=tuple(rng.integers(100, 255, 3).tolist()))
        draw.polygon([(x - 5, y - size), (x + 0.7 * size, y - 1.6 * size), (x + 1.4 * size + 5, y - size)],
                     fill=(150, 40, 30))
    if rng.random() < 0.5:
        draw.text((rng.uniform(0, width * 0.6), rng.uniform(0, height * 0.9)), "BESPOKE 2026", fill=(255, 255, 255))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))


def clip(kind: int, height: int, width: int, frames: int, seed: int) -> np.ndarray:
    """(frames, H, W, 3) uint8 clip of content ``kind`` (an index into KINDS)."""
    rng = np.random.default_rng(seed)
    margin = 64
    if kind == 1:
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        out = np.repeat(gradient(height, width, rng)[None], frames, axis=0)
        for _ in range(4):
            colour, radius = rng.uniform(0, 255, 3), rng.uniform(15, 45)
            (cy, cx), (vy, vx) = rng.uniform(40, min(height, width) - 40, 2), rng.uniform(-1.5, 1.5, 2)
            for t in range(frames):
                out[t][(y - cy - vy * t) ** 2 + (x - cx - vx * t) ** 2 < radius**2] = colour
        out += rng.normal(0, 2, out.shape[:3])[..., None]
        return np.clip(out, 0, 255).round().astype(np.uint8)
    if kind == 0:
        big = 128 + 40 * texture(height + margin, width + margin, rng)
    elif kind == 2:
        big = np.asarray(scene(height + margin, width + margin, rng), np.float32)
    else:
        big = (128 + 45 * texture(height + margin, width + margin, rng, scales=((64, 1.0), (16, 0.3)))) \
            * rng.uniform(0.6, 1.2, 3)
    dy, dx = rng.uniform(-margin / 2, margin / 2, 2) / frames
    out = np.stack([big[int(margin / 2 + dy * t):int(margin / 2 + dy * t) + height,
                        int(margin / 2 + dx * t):int(margin / 2 + dx * t) + width] for t in range(frames)])
    if kind == 3:
        out = out + rng.normal(0, 1.5, out.shape[:3])[..., None]
    return np.clip(out, 0, 255).round().astype(np.uint8)


def still(index: int) -> np.ndarray:
    """An unmarked (H, W, 3) still of kind ``index % 10`` (STILL_KINDS), 192-384 px a side, 40% JPEG'd."""
    rng = np.random.default_rng(10_000 + index)
    height, width = int(rng.choice([192, 256, 320, 384])), int(rng.choice([192, 256, 320, 384]))
    kind = index % len(STILL_KINDS)
    if kind == 0:
        image = gradient(height, width, rng)
    elif kind == 1:
        image = rng.normal(128, rng.uniform(2, 60), (height, width, 3))
    elif kind == 2:
        image = 128 + rng.uniform(10, 60) * texture(height, width, rng)
    elif kind == 3:
        image = np.asarray(scene(height, width, rng), np.float32)
    elif kind == 4:  # stripes and checkerboards at random periods: the worst case for tile sync
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        pattern = np.sign(np.sin(2 * np.pi * x / rng.uniform(6, 90)) * np.sin(2 * np.pi * y / rng.uniform(6, 90)))
        image = np.repeat((128 + 60 * pattern)[..., None], 3, axis=2) + rng.normal(0, 3, (height, width, 1))
    elif kind == 5:  # a tiled texture: periodic content
        period = int(rng.integers(24, 100))
        tile = 128 + 40 * texture(period, period, rng)
        image = np.tile(tile, (height // period + 1, width // period + 1, 1))[:height, :width]
    elif kind == 6:
        image = clip(int(rng.integers(0, 4)), height // 2 * 2, width // 2 * 2, 1, int(rng.integers(1 << 30)))[0]
    elif kind == 7:
        image = np.full((height, width, 3), rng.uniform(0, 255, 3)) + rng.normal(0, 1, (height, width, 1))
    elif kind == 8:
        image = gradient(height, width, rng) + rng.uniform(5, 30) * texture(height, width, rng, ((4, 1.0), (1, 0.5)))
    else:
        image = np.asarray(scene(height, width, rng), np.float32) + rng.normal(0, rng.uniform(0, 6), (height, width, 1))
    image = np.clip(image, 0, 255).round().astype(np.uint8)
    if rng.random() < 0.4:
        image = jpeg(image, int(rng.integers(40, 95)))
    return image


def flat_gradient(side: int = 256) -> np.ndarray:
    """(side, side, 3) smooth colour gradient: where a visible pattern would show first."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    base = np.stack([60 + 120 * x / side, 90 + 80 * y / side, 200 - 100 * (x + y) / (2 * side)], axis=-1)
    return np.clip(base, 0, 255).round().astype(np.uint8)


def screenshot(original: np.ndarray, marked: np.ndarray, path: Path) -> None:
    """Save the centre of original | marked | difference x16 (around mid-grey), enlarged 4x."""
    side = original.shape[0]
    region = (slice(side // 4, 3 * side // 4), slice(side // 4, 3 * side // 4))
    difference = np.clip(128 + 16 * (marked[region].astype(np.float32) - original[region]), 0, 255).astype(np.uint8)
    gap = np.full((side // 2, 4, 3), 255, np.uint8)
    panel = np.concatenate([original[region], gap, marked[region], gap, difference], axis=1)
    Image.fromarray(panel).resize((panel.shape[1] * 4, panel.shape[0] * 4), Image.NEAREST).save(path)


def jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def png(frame: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, "PNG")
    return np.asarray(Image.open(buffer).convert("RGB"))


def attacked(name: str, published: np.ndarray, rng: np.random.Generator, folder: Path, *, fps: int) -> np.ndarray:
    """The frames a copy of ``published`` holds after attack ``name`` (one of ATTACKS)."""
    count = len(published)
    if name == "none":
        return published
    if name in ("crf28", "crf40"):
        return _roundtrip(published, folder, crf=int(name[3:]), fps=fps)
    if name == "quarter_area":
        height, width = published.shape[1:3]
        return _roundtrip(np.stack([np.asarray(Image.fromarray(f).resize((width // 2, height // 2), Image.LANCZOS))
                                    for f in published]), folder, fps=fps)
    if name in ("crop_centre", "crop_off"):
        top, left = (0.5, 0.5) if name == "crop_centre" else rng.uniform(0, 1, 2)
        return _roundtrip(_crop(published, top, left), folder, fps=fps)
    if name == "png_frame":
        return png(published[rng.integers(count)])[None]
    if name == "jpeg75_frame":
        return jpeg(published[rng.integers(count)], 75)[None]
    if name == "cut_1s":
        start = int(rng.integers(0, max(1, count - fps + 1)))
        return _roundtrip(published[start:start + fps], folder, fps=fps)
    gain, offset = {"bright+10": (1.0, 25.5), "bright-10": (1.0, -25.5),
                    "contrast+10": (1.1, 0.0), "contrast-10": (0.9, 0.0)}[name]
    changed = np.clip((published.astype(np.float32) - 128) * gain + 128 + offset, 0, 255).round().astype(np.uint8)
    return _roundtrip(changed, folder, fps=fps)


def attacked_still(name: str, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image a copy of the still ``image`` holds after attack ``name`` (one of STILL_ATTACKS)."""
    if name.startswith("quarter_area"):
        height, width = image.shape[:2]
        image = np.asarray(Image.fromarray(image).resize((width // 2, height // 2), Image.LANCZOS))
    elif name.startswith("crop"):
        top, left = (0.5, 0.5) if name == "crop_centre" else rng.uniform(0, 1, 2)
        image = _crop(image[None], top, left)[0]
    return jpeg(image, 75) if name.endswith("jpeg75") else png(image)


def _crop(frames: np.ndarray, top: float, left: float) -> np.ndarray:
    """Remove 20% of the height and the width; (top, left) in [0, 1] place the kept window."""
    height, width = frames.shape[1:3]
    keep_h, keep_w = int(height * 0.8) // 2 * 2, int(width * 0.8) // 2 * 2
    y0, x0 = int((height - keep_h) * top), int((width - keep_w) * left)
    return frames[:, y0:y0 + keep_h, x0:x0 + keep_w]


def _roundtrip(frames: np.ndarray, folder: Path, *, fps: int, crf: int = 18) -> np.ndarray:
    from generation.pipeline.video import decode_mp4, encode_mp4

    path = folder / "attacked.mp4"
    encode_mp4(frames[:, :frames.shape[1] // 2 * 2, :frames.shape[2] // 2 * 2], path, fps=fps, crf=crf)
    out = decode_mp4(path)
    path.unlink()
    return out
