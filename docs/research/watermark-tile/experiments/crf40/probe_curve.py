"""Recovery after an H.264 CRF 40 re-encode against PSNR, for one layer, on a small clip set.

Usage: probe_curve.py LAYER PSNR CLIPS FRAMES [SIZES]   LAYER: tile | l2s
SIZES: comma-separated HxW (default: the prototype's five sizes, cycled).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_base as B
import l2s
import wm_tile as wm

layer, psnr_db, clips, frames = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sizes = [tuple(int(v) for v in s.split("x")) for s in sys.argv[5].split(",")] if len(sys.argv) > 5 else list(B.SIZES)
folder = Path(tempfile.mkdtemp(prefix="crf-curve-"))
# PUB_OPTS="keyint=15:aq-mode=2": extra x264 options for the publishing encode (CRF 18) only
PUB_OPTS = os.environ.get("PUB_OPTS", "")


def publish(frames: np.ndarray) -> np.ndarray:
    if not PUB_OPTS:
        return B.roundtrip(frames, folder, "pub")
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    path = folder / "pub.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=B.FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "x264-params": PUB_OPTS}
        for frame in frames[:, :h, :w]:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = B.decode(path)
    path.unlink()
    return out
rng = np.random.default_rng(2026)


def embed(raw: np.ndarray, payload: int) -> np.ndarray:
    if layer == "tile":
        return wm.embed(raw, payload, B.KEY, target_psnr=psnr_db)
    return l2s.embed(raw, payload, B.KEY, psnr_db)


def read(frames: np.ndarray, which: str) -> int | None:
    sel = frames[:1] if which == "first" else frames
    return wm.read(sel, B.KEY) if layer == "tile" else l2s.read(sel, B.KEY, "all")[0]


t0 = time.time()
ok = {"pub": 0, "crf40-all": 0, "crf40-first": 0}
ps = []
for i in range(clips):
    h, w = sizes[i % len(sizes)]
    kind = (i // len(sizes) + i) % 4 if len(sizes) > 1 else i % 4
    raw = B.clip(kind, h, w, frames, seed=i)
    payload = int(rng.integers(0, 2**32))
    marked = embed(raw, payload)
    ps.append(wm.psnr(raw, marked))
    pub = publish(marked)
    att = B.roundtrip(pub, folder, "a", crf=40)
    res = {"pub": read(pub, "all") == payload, "crf40-all": read(att, "all") == payload,
           "crf40-first": read(att, "first") == payload}
    for k, v in res.items():
        ok[k] += v
    print(f"clip {i} kind {kind} {w}x{h} psnr {ps[-1]:.2f} " + " ".join(f"{k}={int(v)}" for k, v in res.items())
          + f" ({time.time() - t0:.0f}s)", flush=True)
print(f"SUMMARY layer={layer} target={psnr_db} psnr mean {np.mean(ps):.2f} min {np.min(ps):.2f}; "
      + ", ".join(f"{k} {v}/{clips}" for k, v in ok.items()))
