"""Zero-bit presence layer for H.264 CRF 40: one keyed +-1 pattern of CELL px cells (ISS).

Every cell carries the same keyed sign pattern; the reader high-passes the cell means
(cell minus its 3x3 cell neighbourhood), correlates with the signs and normalises, so an
unmarked picture gives z ~ N(0, 1). The embedder cancels the host's own projection on the
pattern (improved spread spectrum; one projection, so it costs ~sigma_host / sqrt(cells))
and adds a fixed amplitude shaped by the cell texture mask.

Usage: presence_ss.py CLIPS FRAMES PSNR [CELL]
"""
from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_base as B
import l2
import wm_tile as wm

FLOOR = 0.25  # cell weight floor (texture mask of a flat cell is ~0.05)


def signs(key: bytes, gy: int, gx: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(b"bespoke-wm-presence\0" + key).digest()[:16], "big")
    return np.random.default_rng(seed).choice([-1.0, 1.0], (256, 256))[:gy, :gx]


def hp(z: np.ndarray) -> np.ndarray:
    return z - cv2.blur(z, (3, 3), borderType=cv2.BORDER_REFLECT)


def cells(luma: np.ndarray, c: int) -> np.ndarray:
    gy, gx = luma.shape[0] // c, luma.shape[1] // c
    return luma[:gy * c, :gx * c].reshape(gy, c, gx, c).mean(axis=(1, 3))


def embed(frames: np.ndarray, key: bytes, psnr_db: float, c: int) -> np.ndarray:
    budget = (255.0 / 10 ** (psnr_db / 20)) ** 2
    out = []
    win = l2._window(c)
    win = win / win.mean()
    for frame in frames:
        f = frame.astype(np.float32)
        luma = f @ wm.LUMA
        z = cells(luma, c)
        gy, gx = z.shape
        s = signs(key, gy, gx)
        w = np.maximum(cells(wm.texture_mask(luma, c), c), FLOOR)
        w = np.minimum(w, 1.5)
        # HP of a +-1 pattern keeps ~8/9 of it; cancel the host's correlation with the pattern
        host = float((hp(z) * s).sum() / (hp(s) * s).sum())
        sig = w * s
        rms1 = float(np.sqrt(np.mean((sig[:, None, :, None] * win[None, :, None, :]) ** 2)))
        a = np.sqrt(budget) / max(rms1, 1e-6) * 0.97
        d = sig * a - host * s
        delta = np.zeros(luma.shape, np.float32)
        delta[:gy * c, :gx * c] = (d[:, None, :, None] * win[None, :, None, :]).reshape(gy * c, gx * c)
        mse = float(np.mean(delta**2))
        if mse > budget:
            delta *= np.sqrt(budget / mse)
        out.append(np.clip(np.rint(f + delta[..., None]), 0, 255).astype(np.uint8))
    return np.stack(out)


def zscore(frames: np.ndarray, key: bytes, c: int) -> float:
    z = np.mean([hp(cells(f.astype(np.float32) @ wm.LUMA, c)) for f in frames], axis=0)
    s = signs(key, *z.shape)
    return float((z * s).sum() / np.sqrt((z * z).sum() + 1e-9))


if __name__ == "__main__":
    clips, nframes, psnr_db = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    cell = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    folder = Path(tempfile.mkdtemp(prefix="crf-pss-"))
    zs = {"marked": [], "unmarked": [], "wrongkey": []}
    ps = []
    for i in range(clips):
        h, w = B.SIZES[i % len(B.SIZES)]
        kind = (i // len(B.SIZES) + i) % 4
        raw = B.clip(kind, h, w, nframes, seed=i)
        m = embed(raw, B.KEY, psnr_db, cell)
        ps.append(wm.psnr(raw, m))
        am = B.roundtrip(B.roundtrip(m, folder, "p"), folder, "a", crf=40)
        au = B.roundtrip(B.roundtrip(raw, folder, "p"), folder, "a", crf=40)
        zs["marked"].append(zscore(am[:1], B.KEY, cell))
        zs["unmarked"].append(zscore(au[:1], B.KEY, cell))
        zs["wrongkey"].append(zscore(am[:1], B.WRONG_KEY, cell))
        print(f"clip {i} kind {kind} {w}x{h} psnr {ps[-1]:.2f}: z marked {zs['marked'][-1]:.1f} unmarked {zs['unmarked'][-1]:.1f}"
              f" wrong key {zs['wrongkey'][-1]:.1f}", flush=True)
    m = np.array(zs["marked"])
    u = np.abs(np.array(zs["unmarked"] + zs["wrongkey"]))
    print(f"SUMMARY cell {cell} psnr mean {np.mean(ps):.2f} min {np.min(ps):.2f}: marked z min {m.min():.1f} median {np.median(m):.1f};"
          f" |z| unmarked/wrong-key max {u.max():.1f}; detected at z>5: {np.mean(m > 5):.2f}")
