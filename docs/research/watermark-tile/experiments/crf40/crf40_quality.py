"""PSNR of the CRF 40 re-encode itself (published CRF 18 -> CRF 40) against the source, per clip."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_base as B
import wm_tile as wm

folder = Path(tempfile.mkdtemp(prefix="crf-quality-"))
values = []
for i in range(int(sys.argv[1])):
    h, w = B.SIZES[i % len(B.SIZES)]
    kind = (i // len(B.SIZES) + i) % 4
    raw = B.clip(kind, h, w, int(sys.argv[2]), seed=i)
    att = B.roundtrip(B.roundtrip(raw, folder, "p"), folder, "a", crf=40)
    values.append(wm.psnr(raw[:, :att.shape[1], :att.shape[2]], att))
    print(f"clip {i} kind {kind} {w}x{h}: CRF 40 vs source {values[-1]:.1f} dB", flush=True)
print(f"SUMMARY CRF 40 vs source: mean {np.mean(values):.1f} dB, range {np.min(values):.1f}-{np.max(values):.1f}")
