"""Robustness, invisibility, false positives and speed of the invisible watermark.

Clips are labelled with the visible disclosure, then watermarked with a random id each,
published as an MP4 (CRF 18, as renders are), decoded and attacked (bench/watermark_content.py):
  none          the published file as is (read from the file, as the verify page does)
  crf28, crf40  re-encoded with libx264 at CRF 28 / 40
  quarter_area  halved in each dimension (Lanczos) and encoded
  crop_centre   20% of the width and the height cropped away, centred; crop_off: at a random offset
  png_frame     one random frame saved as PNG; jpeg75_frame: as JPEG at quality 75
  cut_1s        any 1 s of the clip
  bright+-10    luma offset by +-10% of full scale; contrast+-10: gain 1.1 / 0.9 around mid-grey
A clip counts as recovered only if the exact id comes back. Bit accuracy is that of the
coded bits before error correction (0.5 when the tile was not even found).

Each synthetic clip (four content kinds in five sizes, 256x256 to 640x480, 30 fps) is marked
three ways: as Bespoke publishes a clip (version 2's tile and version 1 as two layers; the
goals are judged on these), with version 2 alone (what a still carries) and with version 1
alone (clips published before the layers). Stills (frames of those kinds and stills of ten
kinds) are marked as a still and with both layers and attacked as images: PNG, JPEG q75, a
quarter of the area, crops of 20% (centred, off-centre, off-centre then JPEG). Clips
rendered by the tiny offline model at 256x256 are marked as published (their random weights
give pixel-level noise that flickers, the hardest content for a single still). False
positives: at least 2,000 unmarked stills of ten kinds in the full run, the unmarked
published clips, and the marked ones read with a wrong key. A marked flat
gradient, enlarged, is saved in the output folder, and embed/read times are measured at
512x512 for a still's mark (version 2) and a clip's (both layers).

Settings (environment), for a reduced run: BESPOKE_BENCH_WATERMARK_CLIPS (synthetic clips,
default 20), BESPOKE_BENCH_WATERMARK_FRAMES (default 90), BESPOKE_BENCH_WATERMARK_GENERATED
(tiny-model clips, default 10), BESPOKE_BENCH_WATERMARK_STILLS (default 2000),
BESPOKE_BENCH_WATERMARK_MARKED_STILLS (default 40), BESPOKE_BENCH_WATERMARK_OUT (output folder,
default var/bench/watermark).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bench.watermark_content import (
    ATTACKS,
    GOAL_ATTACKS,
    KINDS,
    STILL_ATTACKS,
    STILL_KINDS,
    attacked,
    attacked_still,
    clip,
    flat_gradient,
    screenshot,
    still,
)

ROOT = Path(__file__).resolve().parent.parent
KEY = b"bespoke-benchmark-watermark-key-v1"
WRONG_KEY = b"some-other-watermark-key-entirely"
SIZES = ((256, 256), (240, 320), (384, 384), (512, 512), (480, 640))  # (height, width)
SYNTHETIC_FPS = 30
GENERATED_FRAMES, GENERATED_SIZE, GENERATED_FPS, RENDER_STEPS = 16, 256, 8, 4
GOAL_RECOVERY = 0.95
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


def _setting(name: str, default: int) -> int:
    return int(os.environ.get(f"BESPOKE_BENCH_WATERMARK_{name}", str(default)))


def _synthetic_clips(count: int, frames: int) -> Iterable[tuple[str, np.ndarray]]:
    for index in range(count):
        height, width = SIZES[index % len(SIZES)]
        kind = (index // len(SIZES) + index) % len(KINDS)
        yield KINDS[kind], clip(kind, height, width, frames, seed=index)


def _generated_clips(count: int) -> Iterable[tuple[str, np.ndarray]]:
    import torch
    from diffusers.utils import logging as diffusers_logging

    from generation.pipeline.loading import pipeline_cache
    from generation.pipeline.rendering import RenderSettings, render_frames
    from generation.services.render import model_spec

    diffusers_logging.disable_progress_bar()
    torch.manual_seed(0)
    pipe = pipeline_cache.get(model_spec()).pipe
    for index in range(count):
        yield "tiny model", render_frames(pipe, RenderSettings(
            prompt=PROMPTS[index % len(PROMPTS)], negative_prompt="", num_frames=GENERATED_FRAMES,
            width=GENERATED_SIZE, height=GENERATED_SIZE, steps=RENDER_STEPS, guidance_scale=7.5, seed=1000 + index))


def _evaluate(clips: Iterable[tuple[str, np.ndarray]], *, fps: int, rng: np.random.Generator,
              folder: Path, algorithms: tuple[str, ...]) -> dict[str, Any]:
    from generation.pipeline.video import decode_mp4, encode_mp4
    from provenance.labels import burn_disclosure
    from provenance.watermark import (
        TILE_ALGORITHM,
        psnr,
        watermark_bit_accuracy,
        watermark_embed,
        watermark_read,
        watermark_read_file,
    )

    recovered: dict[str, list[bool]] = {attack: [] for attack in ATTACKS}
    accuracy: dict[str, list[float]] = {attack: [] for attack in ATTACKS}
    by_kind: dict[str, dict[str, list[bool]]] = {}
    psnrs, embed_ms, unmarked_hits, wrong_key_hits, shapes = [], [], 0, 0, set()
    for kind, raw in clips:
        labelled, _ = burn_disclosure(raw)
        shapes.add(f"{raw.shape[2]}x{raw.shape[1]}")
        watermark_id = int(rng.integers(0, 2**32))
        started = time.perf_counter()
        marked = watermark_embed(labelled, watermark_id, key=KEY, algorithms=algorithms)
        embed_ms.append(1000 * (time.perf_counter() - started) / len(marked))
        psnrs.append(psnr(labelled, marked))
        published_path = folder / "published.mp4"
        encode_mp4(marked, published_path, fps=fps, crf=18)
        published = decode_mp4(published_path)
        for attack in ATTACKS:
            frames = attacked(attack, published, rng, folder, fps=fps)
            reading = watermark_read_file(published_path, key=KEY) if attack == "none" \
                else watermark_read(frames, key=KEY)
            ok = reading is not None and reading.watermark_id == watermark_id
            recovered[attack].append(ok)
            by_kind.setdefault(kind, {a: [] for a in ATTACKS})[attack].append(ok)
            if TILE_ALGORITHM in algorithms:  # version 1 reports no soft bits
                accuracy[attack].append(watermark_bit_accuracy(frames, watermark_id, key=KEY))
        wrong_key_hits += watermark_read_file(published_path, key=WRONG_KEY) is not None
        encode_mp4(labelled, published_path, fps=fps, crf=18)
        unmarked_hits += watermark_read_file(published_path, key=KEY) is not None
        published_path.unlink()
    count = len(psnrs)
    return {
        "clips": count,
        "sizes": sorted(shapes),
        "recovery": {attack: round(float(np.mean(recovered[attack])), 3) for attack in ATTACKS},
        "bit_accuracy": {attack: round(float(np.mean(accuracy[attack])), 4) for attack in ATTACKS
                         if accuracy[attack]},
        "bit_accuracy_min": {attack: round(float(np.min(accuracy[attack])), 4) for attack in ATTACKS
                             if accuracy[attack]},
        "recovery_by_kind": {kind: {attack: f"{sum(values[attack])}/{len(values[attack])}" for attack in ATTACKS}
                             for kind, values in by_kind.items()},
        "false_positives_unmarked_clips": unmarked_hits,
        "false_positives_wrong_key": wrong_key_hits,
        "psnr_db_min": round(float(np.min(psnrs)), 2),
        "psnr_db_mean": round(float(np.mean(psnrs)), 2),
        "embed_ms_per_frame": round(float(np.mean(embed_ms)), 2),
    }


def _evaluate_stills(count: int, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Recovery per still attack of ``count`` labelled stills (frames of the synthetic clips and
    stills of the ten kinds, in the clips' sizes), marked as a still (version 2) and with both layers."""
    from PIL import Image

    from provenance.labels import burn_disclosure
    from provenance.watermark import CLIP_ALGORITHMS, STILL_ALGORITHMS, watermark_embed, watermark_read

    marks = {"version 2 (a still)": STILL_ALGORITHMS, "both layers": CLIP_ALGORITHMS}
    recovered: dict[str, dict[str, list[bool]]] = {mark: {attack: [] for attack in STILL_ATTACKS} for mark in marks}
    for index in range(count):
        height, width = SIZES[index % len(SIZES)]
        image = clip(index % len(KINDS), height, width, 1, seed=500 + index)[0] if index % 2 == 0 \
            else np.asarray(Image.fromarray(still(index)).resize((width, height), Image.LANCZOS))
        labelled, _ = burn_disclosure(image[None])
        watermark_id = int(rng.integers(0, 2**32))
        for mark, algorithms in marks.items():
            marked = watermark_embed(labelled, watermark_id, key=KEY, algorithms=algorithms)[0]
            for attack in STILL_ATTACKS:
                reading = watermark_read(attacked_still(attack, marked, rng)[None], key=KEY)
                recovered[mark][attack].append(reading is not None and reading.watermark_id == watermark_id)
    return {mark: {attack: round(float(np.mean(values)), 3) for attack, values in attacks.items()}
            for mark, attacks in recovered.items()}


def _false_positive_sweep(count: int) -> dict[str, Any]:
    from provenance.watermark import watermark_read

    started = time.perf_counter()
    hits: dict[str, int] = {}
    for index in range(count):
        if watermark_read(still(index)[None], key=KEY) is not None:
            kind = STILL_KINDS[index % len(STILL_KINDS)]
            hits[kind] = hits.get(kind, 0) + 1
    return {"stills": count, "false_positives": sum(hits.values()), "by_kind": hits,
            "seconds": round(time.perf_counter() - started, 1)}


def _flat_gradient_screenshot(out: Path) -> dict[str, Any]:
    """A flat gradient marked as a clip's frame (both layers) and as a still, each saved enlarged."""
    from provenance.watermark import psnr, watermark_embed

    base = flat_gradient()
    figures: dict[str, Any] = {}
    for name, frames in (("clip", np.stack([base, base])), ("still", base[None])):
        marked = watermark_embed(frames, 0x01234567, key=KEY)[0]
        path = out / ("gradient_marked_x4.png" if name == "clip" else "gradient_still_marked_x4.png")
        screenshot(base, marked, path)
        figures[name] = {"screenshot": str(path), "psnr_db": round(float(psnr(base, marked)), 2),
                         "max_change": int(np.abs(marked.astype(int) - base).max())}
    return {**figures["clip"], "still": figures["still"]}


def _timing(folder: Path) -> dict[str, float]:
    """Milliseconds at 512x512: embed per frame, read one still, read a 16-frame file, for a
    still's mark (version 2) and a clip's (both layers)."""
    from generation.pipeline.video import encode_mp4
    from provenance.watermark import (
        CLIP_ALGORITHMS,
        STILL_ALGORITHMS,
        watermark_embed,
        watermark_read,
        watermark_read_file,
    )

    frames = clip(2, 512, 512, 16, seed=99)
    figures: dict[str, float] = {}
    for name, algorithms in (("still", STILL_ALGORITHMS), ("clip", CLIP_ALGORITHMS)):
        def embed(f: np.ndarray, algorithms: tuple[str, ...] = algorithms) -> np.ndarray:
            return watermark_embed(f, 42, key=KEY, algorithms=algorithms)

        embed(frames[:1])  # warm the caches (layout, tile) as a worker does after its first frame
        started = time.perf_counter()
        marked = embed(frames)
        figures[f"{name}_embed_ms_per_frame"] = round(1000 * (time.perf_counter() - started) / len(frames), 1)
        path = folder / f"timing-{name}.mp4"
        encode_mp4(marked, path, fps=8, crf=18)
        started = time.perf_counter()
        reading = watermark_read_file(path, key=KEY, max_frames=16)
        figures[f"{name}_read_16_frame_file_ms"] = round(1000 * (time.perf_counter() - started), 1)
        assert reading is not None and reading.watermark_id == 42, f"{name} timing clip did not read back"
        started = time.perf_counter()
        for frame in marked[:8]:
            watermark_read(frame[None], key=KEY)
        figures[f"{name}_read_still_ms"] = round(1000 * (time.perf_counter() - started) / 8, 1)
    return figures


def _table(title: str, figures: dict[str, Any]) -> None:
    print(f"{title}: {figures['clips']} clips ({', '.join(figures['sizes'])}), PSNR mean {figures['psnr_db_mean']} dB, "
          f"min {figures['psnr_db_min']} dB; embed {figures['embed_ms_per_frame']} ms/frame; false positives "
          f"{figures['false_positives_unmarked_clips']}/{figures['clips']} unmarked clips, "
          f"{figures['false_positives_wrong_key']}/{figures['clips']} wrong key")
    print(f"  {'attack':<14}{'recovery':>10}{'bit acc mean':>14}{'bit acc min':>13}  by kind")
    for attack in ATTACKS:
        kinds = " ".join(f"{kind}={values[attack]}" for kind, values in figures["recovery_by_kind"].items())
        mean, least = figures["bit_accuracy"].get(attack), figures["bit_accuracy_min"].get(attack)
        accuracy = f"{mean:>14.4f}{least:>13.4f}" if mean is not None else f"{'-':>14}{'-':>13}"
        print(f"  {attack:<14}{figures['recovery'][attack]:>10.3f}{accuracy}  {kinds}")


def run() -> dict[str, Any]:
    from provenance.watermark import CLIP_ALGORITHMS, DCT_ALGORITHM, STILL_ALGORITHMS, TILE_ALGORITHM

    clips, frames = _setting("CLIPS", 20), _setting("FRAMES", 90)
    generated, stills = _setting("GENERATED", 10), _setting("STILLS", 2000)
    still_count = _setting("MARKED_STILLS", 40)
    out = Path(os.environ.get("BESPOKE_BENCH_WATERMARK_OUT", ROOT / "var" / "bench" / "watermark"))
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    folder = Path(tempfile.mkdtemp(prefix="bespoke-wm-"))
    try:
        layered = _evaluate(_synthetic_clips(clips, frames), fps=SYNTHETIC_FPS, rng=rng, folder=folder,
                            algorithms=CLIP_ALGORITHMS)
        tile_alone = _evaluate(_synthetic_clips(clips, frames), fps=SYNTHETIC_FPS, rng=rng, folder=folder,
                               algorithms=STILL_ALGORITHMS)
        dct_alone = _evaluate(_synthetic_clips(clips, frames), fps=SYNTHETIC_FPS, rng=rng, folder=folder,
                              algorithms=(DCT_ALGORITHM,))
        rendered = _evaluate(_generated_clips(generated), fps=GENERATED_FPS, rng=rng, folder=folder,
                             algorithms=CLIP_ALGORITHMS) if generated else None
        still_recovery = _evaluate_stills(still_count, rng)
        sweep = _false_positive_sweep(stills)
        gradient = _flat_gradient_screenshot(out)
        timing = _timing(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    layers = " + ".join(CLIP_ALGORITHMS)
    _table(f"clips as published ({layers}), synthetic, {frames} frames at {SYNTHETIC_FPS} fps", layered)
    _table(f"version 2 alone ({TILE_ALGORITHM}, a still's mark), the same clips", tile_alone)
    _table(f"version 1 alone ({DCT_ALGORITHM}, clips published before the layers), the same clips", dct_alone)
    if rendered:
        _table(f"tiny model, as published, {GENERATED_FRAMES} frames at {GENERATED_FPS} fps", rendered)
    print(f"stills: {still_count} labelled stills, 256x256 to 640x480, each marked as a still and with both layers")
    print(f"  {'attack':<22}" + "".join(f"{mark:>22}" for mark in still_recovery))
    for attack in STILL_ATTACKS:
        print(f"  {attack:<22}" + "".join(f"{figures[attack]:>22.3f}" for figures in still_recovery.values()))
    print(f"false positives: {sweep['false_positives']}/{sweep['stills']} unmarked stills of {len(STILL_KINDS)} kinds "
          f"({sweep['seconds']} s)")
    for name, figures in (("a clip's frame", gradient), ("a still", gradient["still"])):
        print(f"flat gradient marked as {name}: PSNR {figures['psnr_db']} dB, largest change "
              f"{figures['max_change']}; screenshot {figures['screenshot']}")
    print("512x512: " + ", ".join(f"{name} {value}" for name, value in timing.items()))
    sets = (layered, tile_alone, dct_alone, *([rendered] if rendered else []))
    false_positives = sweep["false_positives"] + sum(
        figures["false_positives_unmarked_clips"] + figures["false_positives_wrong_key"] for figures in sets)
    goals = {attack: layered["recovery"][attack] >= GOAL_RECOVERY for attack in GOAL_ATTACKS}
    still_mark = still_recovery["version 2 (a still)"]
    still_goals = {attack: still_mark[attack] >= GOAL_RECOVERY for attack in STILL_ATTACKS}
    return {
        "algorithms": list(CLIP_ALGORITHMS),
        "clips": layered["clips"],
        "recovery": layered["recovery"],
        "bit_accuracy": layered["bit_accuracy"],
        "bit_accuracy_min": layered["bit_accuracy_min"],
        "recovery_by_kind": layered["recovery_by_kind"],
        "goal_recovery": GOAL_RECOVERY,
        "goals_met": goals,
        "goals_missed": sorted(attack for attack, met in goals.items() if not met),
        "still_algorithm": TILE_ALGORITHM,
        "stills": still_count,
        "still_recovery": still_mark,
        "still_recovery_both_layers": still_recovery["both layers"],
        "still_goals_missed": sorted(attack for attack, met in still_goals.items() if not met),
        "version_2_alone_clip_recovery": tile_alone["recovery"],
        "version_1_alone_recovery": dct_alone["recovery"],
        "false_positives": false_positives,
        "false_positive_stills": sweep["stills"],
        "false_positives_by_still_kind": sweep["by_kind"],
        "psnr_db_min": min(figures["psnr_db_min"] for figures in sets),
        "psnr_db_mean": layered["psnr_db_mean"],
        "embed_ms_per_frame": layered["embed_ms_per_frame"],
        "generated_clips": rendered["clips"] if rendered else 0,
        "generated_recovery": rendered["recovery"] if rendered else {},
        "generated_bit_accuracy": rendered["bit_accuracy"] if rendered else {},
        "flat_gradient": gradient,
        "timing_512": timing,
    }
