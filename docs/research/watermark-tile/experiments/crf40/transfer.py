"""How much of a +-A cell-mean (DC) pattern an H.264 CRF 40 re-encode keeps, by cell size,
amplitude, window and content. Reads frame 0 (the I-frame) of a 30-frame clip.

slope: regression of the decoded change on the embedded change (1 = kept in full);
noise: rms of what is left; snr = slope * A / noise (per cell, before any coding).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_base as B
import l2

folder = Path(tempfile.mkdtemp(prefix="crf-transfer-"))
size = int(sys.argv[1]) if len(sys.argv) > 1 else 256
rows = []
for kind in range(4):
    raw = B.clip(kind, size, size, 30, seed=100 + kind)
    base = B.roundtrip(B.roundtrip(raw, folder, "p"), folder, "a", crf=40)[0].astype(np.float32) @ B.wm.LUMA
    for c in (8, 16, 32):
        g = size // c
        rng = np.random.default_rng(c)
        signs = rng.choice([-1.0, 1.0], (g, g))
        for window in ("flat", "smooth"):
            win = np.ones((c, c), np.float32) if window == "flat" else l2._window(c)
            win = win / win.mean()
            for amp in (1.5, 2.5, 4.0, 6.0):
                delta = (signs[:, None, :, None] * amp * win[None, :, None, :]).reshape(g * c, g * c)
                marked = np.clip(np.rint(raw + delta[None, :, :, None]), 0, 255).astype(np.uint8)
                out = B.roundtrip(B.roundtrip(marked, folder, "p"), folder, "a", crf=40)[0].astype(np.float32) @ B.wm.LUMA
                d = (out - base)[:g * c, :g * c].reshape(g, c, g, c).mean(axis=(1, 3))
                e = signs * amp
                slope = float((d * e).sum() / (e * e).sum())
                noise = float((d - slope * e).std())
                rms = float(np.sqrt(np.mean(delta**2)))
                rows.append((kind, c, window, amp, rms, slope, noise))
                print(f"kind {kind} cell {c:2d} {window:6s} A={amp:.1f} (pixel rms {rms:.2f}, PSNR {20*np.log10(255/rms):.1f}) "
                      f"slope {slope:.2f} noise {noise:.2f} snr/cell {slope*amp/max(noise,1e-6):.2f}", flush=True)
