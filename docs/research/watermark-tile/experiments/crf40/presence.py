"""Zero-bit presence after H.264 CRF 40: the tile's pilot sync z-score at the embedding period.

A reader that assumes no rescale knows the period (N x cell x reader scale) and only needs
the cyclic shift, so the null distribution is the max of one 40x40 correlation, not of a
period scan. Marked and unmarked clips (published CRF 18, re-encoded CRF 40) are compared.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_base as B
import wm_tile as wm

clips, frames = int(sys.argv[1]), int(sys.argv[2])
folder = Path(tempfile.mkdtemp(prefix="crf-presence-"))
rng = np.random.default_rng(7)


def z_known(video: np.ndarray) -> float:
    h, w = video.shape[1:3]
    period = wm.N * wm.cell_size(h, w) * min(1.0, wm.READ_SIDE / min(h, w))
    return float(wm._sync(wm._fold(wm._residual(video), period), B.KEY, peaks=1)[0][0])


marked_z, plain_z = {"all": [], "first": []}, {"all": [], "first": []}
for i in range(clips):
    h, w = B.SIZES[i % len(B.SIZES)]
    kind = (i // len(B.SIZES) + i) % 4
    raw = B.clip(kind, h, w, frames, seed=i)
    for store, video in ((marked_z, wm.embed(raw, int(rng.integers(0, 2**32)), B.KEY)), (plain_z, raw)):
        att = B.roundtrip(B.roundtrip(video, folder, "p"), folder, "a", crf=40)
        store["all"].append(z_known(att))
        store["first"].append(z_known(att[:1]))
    print(f"clip {i} kind {kind} {w}x{h}: marked z all {marked_z['all'][-1]:.1f} first {marked_z['first'][-1]:.1f}"
          f" | unmarked z all {plain_z['all'][-1]:.1f} first {plain_z['first'][-1]:.1f}", flush=True)
for k in ("all", "first"):
    m, p = np.array(marked_z[k]), np.array(plain_z[k])
    print(f"SUMMARY {k}: marked z min {m.min():.1f} median {np.median(m):.1f}; unmarked z max {p.max():.1f} median {np.median(p):.1f};"
          f" marked above 6.0: {np.mean(m > 6.0):.2f}, unmarked above 6.0: {np.mean(p > 6.0):.2f}")
