"""Low-frequency payload layer, STDM variant: dithered QIM on keyed projections of cell means.

Cells are CELL px squares (CELL = short side / L2_CELLS) on a grid anchored at the frame's
top-left corner. A keyed permutation gives each cell a coded bit (cyclically) and a sign;
the projection of coded bit b is p_b = mean over its cells of sign * cell-mean luma. The
embedder moves p_b a fraction ALPHA of the way to the nearest point of bit b's lattice
(step DELTA luma, keyed dither), spreading the change over the bit's cells in proportion to
the square of their texture mask (flat cells barely move) and capping each cell's change at
CELL_CAP x its mask. The reader turns the distance to each lattice into a soft value,
runs Viterbi and checks the 24-bit HMAC tag. An absolute step is not contrast-invariant:
this layer is meant to carry the payload through H.264 re-encoding only, while the tile
layer (wm_tile) covers crops, rescaling, stills and brightness/contrast.

Switches (environment): L2_CELL_PX fixes the cell size in px; L2_SHAPE_MASK=0 draws each
cell as a smooth window (the mask then only sets the cell weights); L2_FLAT_FLOOR raises
the weight of flat cells; L2_CHAN=cb|cr reads and marks a chroma channel instead of luma;
L2_AWARE=n simulates the CRF 40 intra encode n times and raises the moves of the bits it
pulls back. RESULTS-crf40.md has the numbers: none of these survives CRF 40 at 40 dB.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache

import numpy as np

import l2
import wm_tile

CELLS = float(os.environ.get("L2_CELLS", "28"))  # cells across the short side
DELTA = float(os.environ.get("L2_DELTA", "4.0"))  # lattice step of a projection, luma
ALPHA = float(os.environ.get("L2_ALPHA", "1.0"))  # distortion compensation
CELL_CAP = float(os.environ.get("L2_CELL_CAP", "8.0"))  # max |change| of a cell mean at mask 1
SHAPE_MASK = os.environ.get("L2_SHAPE_MASK", "1") == "1"  # 0: smooth window only, the mask sets cell weights
FLAT_FLOOR = float(os.environ.get("L2_FLAT_FLOOR", "0"))  # floor of a cell's mask weight (1: no masking)
CODED = l2.CODED
LUMA = wm_tile.LUMA
# channel the cells are read from (BT.601 weights) and the RGB direction of a unit change in it
_CHANNELS = {"y": ((0.299, 0.587, 0.114), (1.0, 1.0, 1.0)),
             "cb": ((-0.168736, -0.331264, 0.5), (0.0, -0.344136, 1.772)),
             "cr": ((0.5, -0.418688, -0.081312), (1.402, -0.714136, 0.0))}
CHAN = os.environ.get("L2_CHAN", "y")
FEATURE = np.array(_CHANNELS[CHAN][0], np.float32)
DIRECTION = np.array(_CHANNELS[CHAN][1], np.float32)


CELL_PX = int(os.environ.get("L2_CELL_PX", "0"))  # >0: fixed cell size in px (codec-block aligned)


def cell_px(height: int, width: int) -> int:
    return CELL_PX or max(4, round(min(height, width) / CELLS))


@lru_cache(maxsize=32)
def _layout(key: bytes, gy: int, gx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    seed = int.from_bytes(hashlib.sha256(b"bespoke-wm-l2s\0" + key).digest()[:16], "big")
    rng = np.random.default_rng(seed)
    bit = (rng.permutation(gy * gx) % CODED).reshape(gy, gx)
    sign = rng.choice(np.array([-1.0, 1.0], np.float32), (gy, gx))
    count = np.bincount(bit.ravel(), minlength=CODED).astype(np.float32)
    dither = rng.uniform(0, DELTA, CODED)
    return bit, sign, count, dither


def _cells(luma: np.ndarray, c: int) -> np.ndarray:
    gy, gx = luma.shape[0] // c, luma.shape[1] // c
    return luma[:gy * c, :gx * c].reshape(gy, c, gx, c).mean(axis=(1, 3))


def _proj(z: np.ndarray, bit: np.ndarray, sign: np.ndarray, count: np.ndarray) -> np.ndarray:
    return np.bincount(bit.ravel(), (sign * z).ravel(), minlength=CODED) / np.maximum(count, 1)


def embed_frame(frame: np.ndarray, coded: np.ndarray, key: bytes, mse_budget: float,
                gain: np.ndarray | None = None) -> np.ndarray:
    h, w = frame.shape[:2]
    c = cell_px(h, w)
    f = frame.astype(np.float32)
    luma = f @ LUMA
    z = _cells(f @ FEATURE, c)
    gy, gx = z.shape
    bit, sign, count, dither = _layout(key, gy, gx)
    p = _proj(z, bit, sign, count)
    off = dither + coded * DELTA / 2
    target = off + np.round((p - off) / DELTA) * DELTA
    move = ALPHA * (target - p) * (count > 0) * (1.0 if gain is None else gain)
    mask = wm_tile.texture_mask(luma, c)
    wc = np.maximum(_cells(mask, c), FLAT_FLOOR)
    w2 = wc**2
    wsum = np.bincount(bit.ravel(), w2.ravel(), minlength=CODED) + 1e-9
    e = sign * (move * count / wsum)[bit] * w2
    e = np.clip(e, -CELL_CAP * np.minimum(wc, 1.0), CELL_CAP * np.minimum(wc, 1.0))
    win = l2._window(c)
    inner = mask[:gy * c, :gx * c] if SHAPE_MASK else np.ones((gy * c, gx * c), np.float32)
    shape = inner.reshape(gy, c, gx, c) * win[None, :, None, :]
    shape = shape / shape.mean(axis=(1, 3), keepdims=True)
    delta = np.zeros((h, w), np.float32)
    delta[:gy * c, :gx * c] = (shape * e[:, None, :, None]).reshape(gy * c, gx * c)
    mse = float(np.mean(delta**2) * np.mean(DIRECTION**2))
    if mse > mse_budget:
        delta *= np.sqrt(mse_budget / mse)
    return np.clip(np.rint(f + delta[..., None] * DIRECTION), 0, 255).astype(np.uint8)


AWARE_ITERS = int(os.environ.get("L2_AWARE", "0"))  # codec-aware passes (0: off)
AWARE_CRF = int(os.environ.get("L2_AWARE_CRF", "40"))
AWARE_MARGIN = float(os.environ.get("L2_AWARE_MARGIN", "0.5"))  # wanted cos margin after the simulated encode
AWARE_STEP, AWARE_MAX = 1.6, 6.0


def _intra_roundtrip(frame: np.ndarray, crf: int) -> np.ndarray:
    """frame -> one H.264 intra frame at `crf` (x264 veryfast, as an attacker's default) -> RGB."""
    import io

    import av

    h, w = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    buf.seek(0)
    with av.open(buf) as container:
        out = next(container.decode(video=0)).to_ndarray(format="rgb24")
    full = frame.copy()
    full[:h, :w] = out
    return full


def embed_frame_aware(frame: np.ndarray, coded: np.ndarray, key: bytes, mse_budget: float) -> np.ndarray:
    """Codec-aware embedding: simulate the re-encode, raise the moves of bits it pulls back."""
    gain = np.ones(CODED, np.float32)
    marked = embed_frame(frame, coded, key, mse_budget, gain)
    want = 1.0 - 2.0 * coded
    for _ in range(AWARE_ITERS):
        soft = soft_frame(_intra_roundtrip(marked, AWARE_CRF), key) * want
        weak = soft < AWARE_MARGIN
        if not weak.any():
            break
        gain = np.where(weak, np.minimum(gain * AWARE_STEP, AWARE_MAX), gain)
        marked = embed_frame(frame, coded, key, mse_budget, gain)
    return marked


def embed(frames: np.ndarray, payload: int, key: bytes, psnr_db: float) -> np.ndarray:
    coded = l2._coded(payload, bytes(key)).astype(np.float32)
    budget = (255.0 / 10 ** (psnr_db / 20)) ** 2
    one = embed_frame_aware if AWARE_ITERS else embed_frame
    return np.stack([one(fr, coded, bytes(key), budget) for fr in frames])


def soft_frame(frame: np.ndarray, key: bytes) -> np.ndarray:
    h, w = frame.shape[:2]
    z = _cells(frame.astype(np.float32) @ FEATURE, cell_px(h, w))
    bit, sign, count, dither = _layout(key, *z.shape)
    p = _proj(z, bit, sign, count)
    return np.cos(2 * np.pi * (p - dither) / DELTA) * (count > 0)


def read(frames: np.ndarray, key: bytes, which: str = "all") -> tuple[int | None, np.ndarray]:
    """which: 'all' sums every frame's soft values, 'first' reads frame 0 only."""
    if frames.ndim == 3:
        frames = frames[None]
    sel = frames[:1] if which == "first" else frames
    soft = sum(soft_frame(f, bytes(key)) for f in sel)
    message = l2._viterbi(soft)
    plain = message ^ wm_tile.layout(bytes(key)).scramble
    payload = wm_tile._from_bits(plain[:wm_tile.PAYLOAD_BITS])
    ok = np.array_equal(plain[wm_tile.PAYLOAD_BITS:], wm_tile._tag(payload, bytes(key)))
    return (payload if ok else None), (soft < 0).astype(np.uint8)


coded_bits = l2.coded_bits
