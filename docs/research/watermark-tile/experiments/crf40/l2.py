"""Low-frequency payload layer: angle QIM on pairs of cell-mean differences (gain-invariant STDM).

Each 2x2 block of cells (a super-cell, cell = short side / CELLS px) gives a 2-vector
y = (z00 - z11, z01 - z10) of cell-mean luma differences. Brightness offsets cancel in the
differences and a contrast change scales y, so its angle is invariant to both (the
rational-dither idea with the host's own magnitude as the normaliser). The embedder rotates
y onto the nearest point of the lattice of the super-cell's coded bit (step DTHETA, keyed
dither), spreading the change over the four cells in proportion to their texture mask, and
scales the whole change down if it would exceed the PSNR budget. The reader recomputes the
angles, turns them into soft values weighted by |y|, sums the repeats and runs Viterbi; the
24-bit HMAC tag of wm_tile decides.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache

import numpy as np

import wm_tile

CELLS = float(os.environ.get("L2_CELLS", "28"))  # cells across the short side
DTHETA = 2 * np.pi / int(os.environ.get("L2_N", "10"))  # lattice step: L2_N points per turn (bits alternate)
RATE = int(os.environ.get("L2_RATE", "3"))  # 2 or 3: convolutional code rate 1/RATE
R_MIN = float(os.environ.get("L2_RMIN", "0.0"))  # minimum |y| after embedding, x cell mask
R_CAP = float(os.environ.get("L2_RCAP", "12.0"))  # soft-value weight saturates at this |y|
CELL_CAP = float(os.environ.get("L2_CELL_CAP", "6.0"))  # max change of one cell mean, luma
_GENS = {2: (0o171, 0o133), 3: (0o133, 0o171, 0o165)}[RATE]
K = 7
MESSAGE_BITS = wm_tile.MESSAGE_BITS
CODED = (MESSAGE_BITS + K - 1) * len(_GENS)
LUMA = wm_tile.LUMA


def cell_px(height: int, width: int) -> int:
    return max(4, round(min(height, width) / CELLS))


@lru_cache(maxsize=32)
def _layout(key: bytes, sgy: int, sgx: int) -> tuple[np.ndarray, np.ndarray]:
    """Coded-bit index and lattice dither of each super-cell of a sgy x sgx grid."""
    seed = int.from_bytes(hashlib.sha256(b"bespoke-wm-l2\0" + key).digest()[:16], "big")
    rng = np.random.default_rng(seed)
    order = rng.permutation(sgy * sgx)
    bit = (order % CODED).reshape(sgy, sgx)
    dither = rng.uniform(0, DTHETA, (sgy, sgx))
    return bit, dither


def _coded(payload: int, key: bytes) -> np.ndarray:
    return _encode(wm_tile._message(payload, wm_tile.layout(key)))


def _window(c: int) -> np.ndarray:
    t = np.minimum(1.0, 2.0 * np.sin(np.pi * (np.arange(c) + 0.5) / c))
    return np.outer(t, t).astype(np.float32)


def _cell_means(luma: np.ndarray, c: int) -> np.ndarray:
    gy, gx = luma.shape[0] // c, luma.shape[1] // c
    gy, gx = gy - gy % 2, gx - gx % 2
    return luma[:gy * c, :gx * c].reshape(gy, c, gx, c).mean(axis=(1, 3))


def _vectors(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return z[0::2, 0::2] - z[1::2, 1::2], z[0::2, 1::2] - z[1::2, 0::2]


def embed_frame(frame: np.ndarray, coded: np.ndarray, key: bytes, mse_budget: float) -> np.ndarray:
    h, w = frame.shape[:2]
    c = cell_px(h, w)
    f = frame.astype(np.float32)
    luma = f @ LUMA
    z = _cell_means(luma, c)
    gy, gx = z.shape
    bit, dither = _layout(key, gy // 2, gx // 2)
    q = coded[bit].astype(np.float32)
    y1, y2 = _vectors(z)
    theta, r = np.arctan2(y2, y1), np.hypot(y1, y2)
    mask = wm_tile.texture_mask(luma, c)
    wcell = _cell_means(mask, c)
    off = dither + q * DTHETA / 2
    target = off + np.round((theta - off) / DTHETA) * DTHETA
    wsup = (wcell[0::2, 0::2] + wcell[1::2, 1::2] + wcell[0::2, 1::2] + wcell[1::2, 0::2]) / 4
    r_t = np.maximum(r, R_MIN * np.minimum(1.0, wsup))
    d1, d2 = r_t * np.cos(target) - y1, r_t * np.sin(target) - y2
    e = np.zeros_like(z)
    w2 = wcell**2 + 1e-6
    for (ay, ax, by, bx, d) in ((0, 0, 1, 1, d1), (0, 1, 1, 0, d2)):
        wa, wb = w2[ay::2, ax::2], w2[by::2, bx::2]
        e[ay::2, ax::2] = d * wa / (wa + wb)
        e[by::2, bx::2] = -d * wb / (wa + wb)
    e = np.clip(e, -CELL_CAP, CELL_CAP)
    win = _window(c)
    shape = mask[:gy * c, :gx * c].reshape(gy, c, gx, c) * win[None, :, None, :]
    shape = shape / shape.mean(axis=(1, 3), keepdims=True)
    delta = np.zeros((h, w), np.float32)
    delta[:gy * c, :gx * c] = (shape * e[:, None, :, None]).reshape(gy * c, gx * c)
    mse = float(np.mean(delta**2))
    if mse > mse_budget:
        delta *= np.sqrt(mse_budget / mse)
    return np.clip(np.rint(f + delta[..., None]), 0, 255).astype(np.uint8)


def embed(frames: np.ndarray, payload: int, key: bytes, psnr_db: float) -> np.ndarray:
    coded = _coded(payload, bytes(key))
    budget = (255.0 / 10 ** (psnr_db / 20)) ** 2
    return np.stack([embed_frame(fr, coded, bytes(key), budget) for fr in frames])


def soft_frame(frame: np.ndarray, key: bytes) -> np.ndarray:
    h, w = frame.shape[:2]
    z = _cell_means(frame.astype(np.float32) @ LUMA, cell_px(h, w))
    bit, dither = _layout(key, z.shape[0] // 2, z.shape[1] // 2)
    y1, y2 = _vectors(z)
    theta, r = np.arctan2(y2, y1), np.hypot(y1, y2)
    s = np.cos(2 * np.pi * (theta - dither) / DTHETA) * np.minimum(r, R_CAP)
    return np.bincount(bit.ravel(), s.ravel(), minlength=CODED)


def read(frames: np.ndarray, key: bytes, which: str = "all") -> tuple[int | None, np.ndarray]:
    """which: 'all' sums every frame's soft values, 'first' reads frame 0 only."""
    if frames.ndim == 3:
        frames = frames[None]
    sel = frames[:1] if which == "first" else frames
    soft = sum(soft_frame(f, bytes(key)) for f in sel)
    message = _viterbi(soft)
    plain = message ^ wm_tile.layout(bytes(key)).scramble
    payload = wm_tile._from_bits(plain[:wm_tile.PAYLOAD_BITS])
    ok = np.array_equal(plain[wm_tile.PAYLOAD_BITS:], wm_tile._tag(payload, bytes(key)))
    return (payload if ok else None), (soft < 0).astype(np.uint8)


def coded_bits(payload: int, key: bytes) -> np.ndarray:
    return _coded(payload, bytes(key))


# --- convolutional code, rate 1/RATE, K=7 --------------------------------------------------

def _parity(x: int) -> int:
    return x.bit_count() & 1


@lru_cache(maxsize=1)
def _trellis():
    states = 1 << (K - 1)
    nxt = np.arange(states)
    bit = nxt >> (K - 2)
    prev = np.stack([((nxt & (states // 2 - 1)) << 1) | x for x in (0, 1)], axis=1)
    regs = (bit[:, None] << (K - 1)) | prev
    outs = np.array([[[_parity(int(regs[s, j]) & g) for g in _GENS] for j in range(2)] for s in range(states)])
    return prev, 1.0 - 2.0 * outs.astype(np.float32), bit


def _encode(message: np.ndarray) -> np.ndarray:
    state, out = 0, []
    for b in np.concatenate([message, np.zeros(K - 1, dtype=np.uint8)]):
        reg = (int(b) << (K - 1)) | state
        out.extend(_parity(reg & g) for g in _GENS)
        state = reg >> 1
    return np.array(out, dtype=np.uint8)


def _viterbi(soft: np.ndarray) -> np.ndarray:
    prev, signs, inbit = _trellis()
    n = len(_GENS)
    steps = len(soft) // n
    metric = np.full(len(prev), -np.inf)
    metric[0] = 0.0
    choices = np.zeros((steps, len(prev)), dtype=np.uint8)
    for t in range(steps):
        cand = metric[prev] + signs @ soft[t * n:(t + 1) * n]
        ch = np.argmax(cand, axis=1)
        choices[t] = ch
        metric = cand[np.arange(len(prev)), ch]
    state, bits = 0, np.zeros(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = inbit[state]
        state = prev[state, choices[t, state]]
    return bits[:steps - (K - 1)]
