"""Probe: the low-frequency angle-QIM layer alone, published CRF 18 then re-encoded CRF 40."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import importlib
import os

import bench_base as B

l2 = importlib.import_module(os.environ.get("L2_MODULE", "l2"))
import wm_tile as wm

clips, frames, psnr_db = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
folder = Path(tempfile.mkdtemp(prefix="crf-probe-"))
rng = np.random.default_rng(2026)
t0 = time.time()
tot = {"pub": 0, "crf40-all": 0, "crf40-first": 0, "fp": 0}
ps = []
for i in range(clips):
    h, w = B.SIZES[i % len(B.SIZES)]
    kind = (i // len(B.SIZES) + i) % 4
    raw = B.clip(kind, h, w, frames, seed=i)
    payload = int(rng.integers(0, 2**32))
    marked = l2.embed(raw, payload, B.KEY, psnr_db)
    ps.append(wm.psnr(raw, marked))
    truth = l2.coded_bits(payload, B.KEY)
    pub = B.roundtrip(marked, folder, "pub")
    att = B.roundtrip(pub, folder, "a", crf=40)
    row = []
    for label, sel, which in (("pub", pub, "all"), ("crf40-all", att, "all"), ("crf40-first", att, "first")):
        got, hard = l2.read(sel, B.KEY, which)
        tot[label] += got == payload
        row.append(f"{label}: ok={int(got == payload)} acc={np.mean(hard == truth):.2f}")
    fp = l2.read(B.roundtrip(raw, folder, "plain"), B.KEY)[0] is not None
    tot["fp"] += fp
    print(f"clip {i} kind {kind} {w}x{h} psnr {ps[-1]:.1f} | " + " | ".join(row) + f" | fp={int(fp)} ({time.time()-t0:.0f}s)", flush=True)
print(f"SUMMARY psnr mean {np.mean(ps):.2f} min {np.min(ps):.2f}; " + ", ".join(f"{k} {v}/{clips}" for k, v in tot.items()))
