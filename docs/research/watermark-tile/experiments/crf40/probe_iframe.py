"""Probe: how the tile prototype's read degrades at CRF 40, all frames vs the I-frame only."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_base as B
import wm_tile as wm

clips, frames = int(sys.argv[1]), int(sys.argv[2])
folder = Path(tempfile.mkdtemp(prefix="crf-probe-"))
rng = np.random.default_rng(2026)
t0 = time.time()
for i in range(clips):
    h, w = B.SIZES[i % len(B.SIZES)]
    kind = (i // len(B.SIZES) + i) % 4
    raw = B.clip(kind, h, w, frames, seed=i)
    payload = int(rng.integers(0, 2**32))
    marked = wm.embed(raw, payload, B.KEY)
    truth = wm.coded_bits(payload, B.KEY)
    pub = B.roundtrip(marked, folder, "pub")
    att = B.roundtrip(pub, folder, "a", crf=40)
    row = []
    for label, sel in (("all", att), ("f0", att[:1]), ("f0-2", att[:3]), ("pub-f0", pub[:1])):
        r = wm.read_detail(sel, B.KEY)
        acc = 0.5 if r.coded_bits is None else float(np.mean(r.coded_bits == truth))
        row.append(f"{label}: ok={int(r.payload == payload)} z={r.z:.1f} acc={acc:.2f}")
    print(f"clip {i} kind {kind} {w}x{h} psnr {wm.psnr(raw, marked):.1f} | " + " | ".join(row) + f" ({time.time()-t0:.0f}s)", flush=True)
