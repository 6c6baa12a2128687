"""What publishing a signed output costs beyond c2pa's own signing.

`python bench/run.py signing` signs an MP4 of about 20 KB and one of about 50 MB with a
Bespoke output manifest and the development CA, and times, as medians of several rounds
taken in turn:

    raw       c2pa's Builder.sign alone, source file to destination file, same settings
    bespoke   what an output's publication does with the file: provenance.c2pa_io.sign_file
              (hashing while it writes), read_signed (validation of what was signed) and
              the output's SHA-256 and size
    reread    the earlier way, for comparison: sign, read the whole file back to validate
              it, then read it again to hash it

and prints each with its ratio to raw (goal: bespoke at most 1.10x raw at 50 MB), JSON last.

Knobs (environment)
    BESPOKE_SIGNING_BENCH_SMALL  a reduced run: a 20 KB and a 3 MB clip, fewer rounds
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BOOTSTRAP = False  # no database: the development CA is made in a temporary folder
GOAL_RATIO = 1.10
FRAME_BYTES = 569_000  # about what one 640x480 noise frame costs lossless


def _noise_mp4(path: Path, *, target_bytes: int) -> Path:
    """A lossless MP4 of random frames, its size near ``target_bytes``."""
    import av

    rng = np.random.default_rng(15)
    small = target_bytes < 200_000
    width, height = (52, 52) if small else (640, 480)
    frames = 6 if small else max(1, round(target_bytes / FRAME_BYTES))
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18" if small else "0", "preset": "ultrafast"}
        for _ in range(frames):
            frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _output_manifest() -> dict[str, Any]:
    from provenance.labels import burn_disclosure
    from provenance.manifest import (
        ConsentReference,
        GeneratorInfo,
        WatermarkBinding,
        build_manifest,
    )

    _, label = burn_disclosure(np.zeros((1, 64, 64, 3), dtype=np.uint8))
    consent = ConsentReference(license_id="lic-bench", license_text_sha256=hashlib.sha256(b"terms").hexdigest(),
                               status_url="https://bespoke.example/licenses/lic-bench/status")
    generator = GeneratorInfo(name="Bespoke generator", version="0.1.0", model_sha256="0" * 64)
    binding = WatermarkBinding(algorithms=("bespoke.dwt-dct",), versions=("1",), watermark_id=123456, payload_bits=48,
                               duration_ms=1000)
    return build_manifest(title="bench.mp4", output_id="out-bench", consent=consent, generator=generator,
                          label=label, claim_generator_version="0.1.0", watermark=binding)


def _timed(action: Callable[[], None], rounds: list[float]) -> None:
    started = time.perf_counter()
    action()
    rounds.append(time.perf_counter() - started)


def _measure(src: Path, folder: Path, *, rounds: int, signer: Any, anchor: str) -> dict[str, Any]:
    from c2pa import Builder, Context

    from provenance.c2pa_io import read_file, read_signed, sign_file

    manifest = _output_manifest()
    settings = {"builder": {"thumbnail": {"enabled": False}},
                "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    dst = folder / "signed.mp4"

    def raw() -> None:
        with (signer.c2pa_signer(tsa_url=None) as c2pa_signer, Context.from_dict(settings) as context,
              Builder(manifest, context) as builder, open(src, "rb") as source, open(dst, "w+b") as dest):
            builder.sign(c2pa_signer, "video/mp4", source, dest)

    def bespoke() -> None:
        signed = sign_file(src=src, dst=dst, manifest=manifest, signer=signer)
        report = read_signed(signed, trust_anchor_pem=anchor)
        sha256 = signed.written.sha256 or _file_sha256(dst)
        assert report.is_trusted and report.output_id == "out-bench" and len(sha256) == 64, report

    def reread() -> None:
        sign_file(src=src, dst=dst, manifest=manifest, signer=signer)
        report = read_file(dst, trust_anchor_pem=anchor)
        sha256 = _file_sha256(dst)
        assert report.is_trusted and len(sha256) == 64, report

    times: dict[str, list[float]] = {"raw": [], "bespoke": [], "reread": []}
    for action in (raw, bespoke, reread):  # warm the page cache and the library once
        action()
    order = random.Random(0)  # each round in another order: none always runs after the same one
    for _ in range(rounds):
        actions = [("raw", raw), ("bespoke", bespoke), ("reread", reread)]
        order.shuffle(actions)
        for name, action in actions:
            _timed(action, times[name])
    signed = sign_file(src=src, dst=dst, manifest=manifest, signer=signer)
    assert signed.written.sha256 == _file_sha256(dst), "the hash taken while writing is the file's"
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "bytes": dst.stat().st_size,
        "rounds": rounds,
        "raw_seconds": round(medians["raw"], 5),
        "bespoke_seconds": round(medians["bespoke"], 5),
        "reread_seconds": round(medians["reread"], 5),
        "bespoke_ratio": round(medians["bespoke"] / medians["raw"], 3),
        "reread_ratio": round(medians["reread"] / medians["raw"], 3),
    }


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run() -> dict[str, Any]:
    from provenance.pki import create_dev_pki, load_signing_material, load_trust_anchor
    from provenance.signing import LocalKeySigner

    small = bool(os.environ.get("BESPOKE_SIGNING_BENCH_SMALL"))
    cases = {"20KB": (20_000, 10 if small else 40), ("3MB" if small else "50MB"): (3_000_000 if small else 50_000_000,
                                                                                    3 if small else 15)}
    folder = Path(tempfile.mkdtemp(prefix="bespoke-signing-bench-"))
    try:
        pki = create_dev_pki(folder / "pki").directory
        signer, anchor = LocalKeySigner(load_signing_material(pki)), load_trust_anchor(pki)
        results: dict[str, Any] = {}
        for name, (target, rounds) in cases.items():
            src = _noise_mp4(folder / f"{name}.mp4", target_bytes=target)
            results[name] = _measure(src, folder, rounds=rounds, signer=signer, anchor=anchor)
        largest = results[list(cases)[-1]]
        results["goal_ratio"] = GOAL_RATIO
        results["within_goal"] = largest["bespoke_ratio"] <= GOAL_RATIO
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)
