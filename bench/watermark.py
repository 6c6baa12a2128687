"""Robustness, invisibility and speed of the invisible video watermark.

Clips are labelled with the visible disclosure, then watermarked with a random id each,
published as an MP4 (CRF 18, 8 fps, as renders are) and attacked:
  none   the published file as is
  crf28  the published file decoded and re-encoded with libx264 at CRF 28
  half   the published frames halved in each dimension (Lanczos) and encoded
  cut    the middle half of the published frames, encoded
Each attacked file is read back; a clip counts as recovered only if the exact id comes
back. Bit accuracy is that of the coded bits before error correction. The same clips
without the watermark, published the same way, measure false positives.

Two clip sets: clips rendered by the tiny offline model at 256x256, 16 frames (different
prompts and seeds; its random weights give busy, flickering noise), and synthetic clips
of textured scenes and flat scenes with moving shapes (closer to real footage).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CLIPS = 20
FRAMES = 16
SIZE = 256
FPS = 8
RENDER_STEPS = 4
KEY = b"bespoke-benchmark-watermark-key-v1"
PROMPTS = (
    "sks person walking through a rainy street at night",
    "sks person laughing on a sunny beach",
    "close-up of sks person reading a book by a window",
    "sks person running through a forest in autumn",
    "sks person on a stage under red spotlights",
    "sks person drinking coffee in a busy cafe",
    "wide shot of sks person on a mountain ridge at dawn",
    "sks person dancing in an empty warehouse",
    "sks person looking out of a train window",
    "sks person walking a dog in a snowy park",
)
ATTACKS = ("none", "crf28", "half", "cut")


def _attacked_files(published: Path, folder: Path) -> dict[str, Path]:
    from generation.pipeline.video import decode_mp4, encode_mp4

    frames = decode_mp4(published)
    count, height, width = frames.shape[:3]
    half = np.stack([np.asarray(Image.fromarray(f).resize((width // 2, height // 2), Image.LANCZOS)) for f in frames])
    files = {"none": published, "crf28": folder / "crf28.mp4", "half": folder / "half.mp4", "cut": folder / "cut.mp4"}
    encode_mp4(frames, files["crf28"], fps=FPS, crf=28)
    encode_mp4(half, files["half"], fps=FPS, crf=18)
    encode_mp4(frames[count // 4:count // 4 + count // 2], files["cut"], fps=FPS, crf=18)
    return files


def _generated_clips() -> list[np.ndarray]:
    import torch
    from diffusers.utils import logging as diffusers_logging

    from generation.pipeline.loading import pipeline_cache
    from generation.pipeline.rendering import RenderSettings, render_frames
    from generation.services.render import model_spec

    diffusers_logging.disable_progress_bar()
    torch.manual_seed(0)
    pipe = pipeline_cache.get(model_spec()).pipe
    return [render_frames(pipe, RenderSettings(prompt=PROMPTS[i % len(PROMPTS)], negative_prompt="", num_frames=FRAMES,
                                               width=SIZE, height=SIZE, steps=RENDER_STEPS, guidance_scale=7.5,
                                               seed=1000 + i))
            for i in range(CLIPS)]


def _synthetic_clip(seed: int) -> np.ndarray:
    """Even seeds: a panning multi-scale colour texture. Odd: a lit gradient with moving shapes."""
    rng = np.random.default_rng(seed)
    if seed % 2 == 0:
        texture = np.zeros((SIZE + 64, SIZE + 64, 3))
        for scale, weight in ((32, 1.0), (8, 0.5), (2, 0.2)):
            cells = rng.normal(0, 1, ((SIZE + 64) // scale + 1, (SIZE + 64) // scale + 1, 3)).astype(np.float32)
            layer = np.stack([np.asarray(Image.fromarray(cells[..., c]).resize(
                (cells.shape[1] * scale, cells.shape[0] * scale), Image.BICUBIC)) for c in range(3)], axis=-1)
            texture += weight * layer[:SIZE + 64, :SIZE + 64]
        texture = 128 + 40 * texture / texture.std()
        dy, dx = rng.integers(-2, 3, 2)  # at most 30 px over the clip, within the margin
        frames = np.stack([texture[32 + dy * t:32 + dy * t + SIZE, 32 + dx * t:32 + dx * t + SIZE]
                           for t in range(FRAMES)])
    else:
        y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        top, bottom = rng.uniform(20, 235, (2, 3))
        background = top + (bottom - top) * (y / SIZE)[..., None]
        frames = np.repeat(background[None], FRAMES, axis=0)
        for _ in range(4):
            colour, radius = rng.uniform(0, 255, 3), rng.uniform(15, 45)
            (cy, cx), (vy, vx) = rng.uniform(40, SIZE - 40, 2), rng.uniform(-5, 5, 2)
            for t in range(FRAMES):
                inside = (y - cy - vy * t) ** 2 + (x - cx - vx * t) ** 2 < radius**2
                frames[t][inside] = colour
        frames += rng.normal(0, 2, frames.shape[:3])[..., None]
    return np.clip(frames, 0, 255).round().astype(np.uint8)


def _evaluate(name: str, clips: list[np.ndarray], rng: np.random.Generator, folder: Path) -> dict[str, Any]:
    from generation.pipeline.video import decode_mp4, encode_mp4
    from provenance.labels import burn_disclosure
    from provenance.watermark import psnr, watermark_bit_accuracy, watermark_embed, watermark_read_file

    recovered = {attack: 0 for attack in ATTACKS}
    bit_accuracy: dict[str, list[float]] = {attack: [] for attack in ATTACKS}
    psnrs, embed_s, read_s, false_positives = [], [], [], 0
    for index, raw in enumerate(clips):
        labelled, _ = burn_disclosure(raw)
        watermark_id = int(rng.integers(0, 2**32))
        started = time.perf_counter()
        marked = watermark_embed(labelled, watermark_id, key=KEY)
        embed_s.append(time.perf_counter() - started)
        psnrs.append(psnr(labelled, marked))

        clip_folder = folder / f"{name}-{index}"
        clip_folder.mkdir()
        published = clip_folder / "published.mp4"
        encode_mp4(marked, published, fps=FPS, crf=18)
        for attack, path in _attacked_files(published, clip_folder).items():
            started = time.perf_counter()
            reading = watermark_read_file(path, key=KEY)
            if attack == "none":
                read_s.append(time.perf_counter() - started)
            recovered[attack] += reading is not None and reading.watermark_id == watermark_id
            bit_accuracy[attack].append(watermark_bit_accuracy(decode_mp4(path), watermark_id, key=KEY))

        plain = clip_folder / "plain.mp4"
        encode_mp4(labelled, plain, fps=FPS, crf=18)
        false_positives += watermark_read_file(plain, key=KEY) is not None
    return {
        "clips": len(clips),
        "recovery": {attack: round(recovered[attack] / len(clips), 3) for attack in ATTACKS},
        "bit_accuracy": {attack: round(float(np.mean(bit_accuracy[attack])), 4) for attack in ATTACKS},
        "bit_accuracy_min": {attack: round(float(np.min(bit_accuracy[attack])), 4) for attack in ATTACKS},
        "false_positives": false_positives,
        "psnr_db_min": round(float(np.min(psnrs)), 2),
        "psnr_db_mean": round(float(np.mean(psnrs)), 2),
        "embed_s_per_clip": round(float(np.mean(embed_s)), 4),
        "read_s_per_clip": round(float(np.mean(read_s)), 4),
    }


def _table(title: str, figures: dict[str, Any]) -> None:
    print(f"{title}: {figures['clips']} clips of {FRAMES}x{SIZE}x{SIZE}, PSNR mean {figures['psnr_db_mean']} dB, "
          f"min {figures['psnr_db_min']} dB; embed {figures['embed_s_per_clip']} s, read {figures['read_s_per_clip']} s "
          f"per clip; false positives {figures['false_positives']}/{figures['clips']} unwatermarked")
    print(f"  {'attack':<8}{'recovery':>10}{'bit acc mean':>14}{'bit acc min':>13}")
    for attack in ATTACKS:
        print(f"  {attack:<8}{figures['recovery'][attack]:>10.3f}{figures['bit_accuracy'][attack]:>14.4f}"
              f"{figures['bit_accuracy_min'][attack]:>13.4f}")


def run() -> dict[str, Any]:
    from provenance.watermark import ALGORITHM

    rng = np.random.default_rng(2024)
    folder = Path(tempfile.mkdtemp(prefix="bespoke-wm-"))
    sets: dict[str, Callable[[], list[np.ndarray]]] = {
        "generated": _generated_clips,
        "synthetic": lambda: [_synthetic_clip(seed) for seed in range(CLIPS)],
    }
    try:
        figures = {name: _evaluate(name, make(), rng, folder) for name, make in sets.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for name, values in figures.items():
        _table(name, values)
    generated, synthetic = figures["generated"], figures["synthetic"]
    return {
        "algorithm": ALGORITHM,
        "clips": generated["clips"],
        "recovery": generated["recovery"],
        "bit_accuracy": generated["bit_accuracy"],
        "false_positives": generated["false_positives"] + synthetic["false_positives"],
        "unwatermarked_clips": generated["clips"] + synthetic["clips"],
        "psnr_db_min": min(generated["psnr_db_min"], synthetic["psnr_db_min"]),
        "psnr_db_mean": generated["psnr_db_mean"],
        "embed_s_per_clip": generated["embed_s_per_clip"],
        "read_s_per_clip": generated["read_s_per_clip"],
        "synthetic_clips": synthetic["clips"],
        "synthetic_recovery": synthetic["recovery"],
        "synthetic_bit_accuracy": synthetic["bit_accuracy"],
        "synthetic_psnr_db_mean": synthetic["psnr_db_mean"],
    }
