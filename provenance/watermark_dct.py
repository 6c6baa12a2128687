"""Watermark version 1 (``dct-stdm.1``): the layer that keeps re-encoded clips.

A clip carries it as its second layer, under version 2's tile (provenance.watermark):
this one survives H.264 re-encoding, downscaling, cuts and single frames, the tile
survives crops. Clips published before the two layers carry it alone, at a coarser
lattice step; the reader tries both steps. Callers go through provenance.watermark, which checks
the frames and the key, and rounds the marked frames within the PSNR floor.

How it works
- Domain: the luma of each frame, projected onto low/mid-frequency 2-D cosines whose
  frequencies are defined relative to the frame size (cos(pi*u*(y+0.5)/H) ...). These
  are DCT-II basis functions at any resolution, so the mark reads the same at 256x256,
  after halving to 128x128, or at 320x256. A crop shifts every cosine, so a cropped copy
  does not read (version 2 fixes that).
- Payload: the 32-bit id plus a keyed CRC-16, scrambled with a key-derived mask, coded
  with provenance.watermark_code's convolutional code.
- Spread-transform dither modulation: each coded bit owns a key-chosen set of cosine
  coefficients with key-chosen signs; the bit is carried by quantising that signed
  mean onto one of two interleaved, key-dithered lattices, sized for a PSNR (40.5 dB
  alone, 44.5 dB as a clip's second layer, so the two layers together stay at 40). A
  texture mask moves the change from flat areas into busy ones, and a few corrections
  keep it on the lattice. A smooth frame (a clean gradient) gets little or none of it, as
  it would show there as a mottle; a clip of nothing but such frames carries no mark.
- Reading: per-frame soft values are summed, each frame weighted by how close it sits to
  the lattices; a reading counts only if the CRC matches and the decoded codeword agrees
  strongly with the soft values.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from provenance.watermark_code import bits_of, coded_length, encode, int_of, viterbi

ALGORITHM = "com.bespoke.watermark.dct-stdm.1"
PAYLOAD_BITS = 32
CRC_BITS = 16
MIN_SIDE = 128  # smallest frame side the mark was embedded into

_MAX_FREQ = 34
_MIN_RADIUS = 5.0
_MAX_RADIUS = 34.0
TARGET_PSNR_DB = 40.5
LAYERED_PSNR_DB = 44.5  # the lattice step of the mark as a clip's second layer, under version 2's tile
_CONFIDENCE_MIN = 0.85
_MASK_STRENGTH = 0.5
_MASK_FLOOR = 4.0
# A frame's mean local luma deviation below which it carries no mark, and above which it
# carries all of it: on a smooth frame (a clean gradient, about 0.6) the lattice's
# low-frequency change shows as a mottle, while grain or detail (2 and up) hides it.
_SMOOTH_ACTIVITY, _BUSY_ACTIVITY = 0.8, 2.0
_REFINEMENTS = 3
_CRC16_POLY = 0x1021
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_MESSAGE_BITS = PAYLOAD_BITS + CRC_BITS
_CODED_BITS = coded_length(_MESSAGE_BITS)


@dataclass(frozen=True, eq=False)
class _Layout:
    u: np.ndarray  # row frequency of each used coefficient
    v: np.ndarray  # column frequency
    bit: np.ndarray  # coded bit carried by each coefficient
    chip: np.ndarray  # +-1 sign of each coefficient in its bit's pattern
    per_bit: np.ndarray  # number of coefficients of each coded bit
    dither: np.ndarray  # key offset of each coded bit's quantisation lattice, in steps
    scramble: np.ndarray  # key mask XORed onto the message bits
    crc_init: int


def dct_mark(frames: np.ndarray, watermark_id: int, *, key: bytes,
             target_psnr_db: float = TARGET_PSNR_DB) -> np.ndarray:
    """``frames`` (T, H, W, 3 float32, 0..255, sides >= MIN_SIDE) carrying ``watermark_id``, with the
    lattice step sized for ``target_psnr_db`` on average, clipped to 0..255 but not rounded."""
    layout = _layout(key)
    signs = 1.0 - 2.0 * encode(_message_bits(watermark_id, layout))
    count, height, width, _ = frames.shape
    rows, cols = _basis(height), _basis(width)
    out = frames.astype(np.float32, copy=False)  # read only: the marked frames are a new array
    luma = out @ _LUMA
    step = _step(layout, target_psnr_db)
    projections = _projections(luma, rows, cols, layout)
    offset = step * layout.dither + np.where(signs > 0, 0.0, step / 2)
    target = offset + step * np.rint((projections - offset) / step)
    mask, activity = _texture_mask(luma)
    mask = mask[..., None]
    gain = mask.mean(axis=(1, 2, 3))[:, None]
    amplitudes = (target - projections) / gain
    coeffs = np.zeros((count, _MAX_FREQ, _MAX_FREQ), dtype=np.float32)
    for refinement in range(_REFINEMENTS + 1):
        coeffs[:, layout.u, layout.v] = amplitudes[:, layout.bit] * layout.chip
        marked = np.clip(out + mask * (rows.T @ coeffs @ cols)[..., None], 0, 255)
        if refinement < _REFINEMENTS:
            amplitudes += (target - _projections(marked @ _LUMA, rows, cols, layout)) / gain
    presence = np.clip((activity - _SMOOTH_ACTIVITY) / (_BUSY_ACTIVITY - _SMOOTH_ACTIVITY), 0.0, 1.0)
    return out + presence[:, None, None, None] * (marked - out)


def dct_projections(frame: np.ndarray, *, key: bytes) -> np.ndarray:
    """(coded bits,) projections of one (H, W, 3) uint8 frame: all a reading keeps of it."""
    luma = (frame.astype(np.float32) @ _LUMA)[None]
    return _projections(luma, _basis(luma.shape[1]), _basis(luma.shape[2]), _layout(key))[0]


def dct_read(projections: np.ndarray, *, key: bytes) -> tuple[int, float] | None:
    """(watermark id, confidence) from the stacked per-frame projections, or None.

    Tries each lattice step a mark is embedded with (alone, and as a clip's second layer)."""
    layout = _layout(key)
    for target_psnr_db in (TARGET_PSNR_DB, LAYERED_PSNR_DB):
        soft = _vote(projections, layout, _step(layout, target_psnr_db))
        message = viterbi(soft)
        codeword_signs = 1.0 - 2.0 * encode(message)
        confidence = float(np.dot(soft, codeword_signs) / (np.abs(soft).sum() + 1e-9))
        payload = _payload_from_message(message, layout)
        if payload is not None and confidence >= _CONFIDENCE_MIN:
            return payload, confidence
    return None


def _texture_mask(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W) local luma activity, mean square 1 per frame, bounded both ways; and (T,) each
    frame's mean activity (local standard deviation of luma)."""
    height, width = luma.shape[1:]
    radius = max(1, min(height, width) // 64)
    activity = np.sqrt(np.maximum(_box_mean(luma**2, radius) - _box_mean(luma, radius) ** 2, 0.0))
    mask = ((activity + _MASK_FLOOR) / (activity.mean(axis=(1, 2), keepdims=True) + _MASK_FLOOR)) ** _MASK_STRENGTH
    mask = np.clip(mask, 0.4, 2.5)
    return mask / np.sqrt(np.mean(mask**2, axis=(1, 2), keepdims=True)), activity.mean(axis=(1, 2))


def _box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)-square window along the last two axes, edges replicated."""
    size = 2 * radius + 1
    padded = np.pad(values, ((0, 0), (radius + 1, radius), (radius + 1, radius)), mode="edge")
    summed = padded.cumsum(axis=1).cumsum(axis=2)
    window = summed[:, size:, size:] - summed[:, :-size, size:] - summed[:, size:, :-size] + summed[:, :-size, :-size]
    return window / size**2


@lru_cache(maxsize=16)
def _layout(key: bytes) -> _Layout:
    seed = int.from_bytes(hashlib.sha256(b"bespoke-watermark-v1\0" + key).digest()[:16], "big")
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.arange(_MAX_FREQ), np.arange(_MAX_FREQ), indexing="ij")
    radius = np.hypot(u, v)
    usable = (radius >= _MIN_RADIUS) & (radius <= _MAX_RADIUS) & (u > 0) & (v > 0)
    u, v = u[usable], v[usable]
    order = rng.permutation(len(u))
    u, v = u[order], v[order]
    bit = np.arange(len(u)) % _CODED_BITS
    return _Layout(u=u, v=v, bit=bit, chip=rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=len(u)),
                   per_bit=np.bincount(bit, minlength=_CODED_BITS).astype(np.float32),
                   dither=rng.random(_CODED_BITS).astype(np.float32),
                   scramble=rng.integers(0, 2, _MESSAGE_BITS, dtype=np.uint8),
                   crc_init=int(rng.integers(0, 1 << CRC_BITS)))


@lru_cache(maxsize=16)
def _basis(size: int) -> np.ndarray:
    """(_MAX_FREQ, size) cosines: row k is cos(pi*k*(x+0.5)/size), the DCT-II basis at any size."""
    x = (np.arange(size) + 0.5) / size
    return np.cos(np.pi * np.arange(_MAX_FREQ)[:, None] * x[None, :]).astype(np.float32)


def _projections(luma: np.ndarray, rows: np.ndarray, cols: np.ndarray, layout: _Layout) -> np.ndarray:
    """(T, coded bits) mean chip-weighted coefficient of each bit's coefficients, per frame."""
    height, width = luma.shape[1:]
    coeffs = (rows @ luma @ cols.T) * (4.0 / (height * width))
    weighted = coeffs[:, layout.u, layout.v] * layout.chip
    sums = np.zeros((luma.shape[0], _CODED_BITS), dtype=np.float32)
    np.add.at(sums.T, layout.bit, weighted.T)
    return sums / layout.per_bit


def _step(layout: _Layout, target_psnr_db: float) -> float:
    """Lattice step of the projections for a PSNR (uniform quantisation error, N*step^2/12)."""
    mse = (255.0 / 10 ** (target_psnr_db / 20)) ** 2
    return float(np.sqrt(12.0 * 4.0 * mse / layout.per_bit.sum()))


def _vote(projections: np.ndarray, layout: _Layout, step: float) -> np.ndarray:
    phase = 2 * np.pi * (projections / step - layout.dither)
    # Frames are weighted by how close their projections lie to either lattice (about 0
    # for a frame without the mark), so frames a codec smeared count less.
    quality = np.clip(np.cos(2 * phase).mean(axis=1, keepdims=True), 0.0, None)
    return (quality * np.cos(phase)).sum(axis=0)


def _crc(bits: np.ndarray, init: int) -> int:
    register = init
    for bit in bits:
        top = ((register >> (CRC_BITS - 1)) & 1) ^ int(bit)
        register = (register << 1) & ((1 << CRC_BITS) - 1)
        if top:
            register ^= _CRC16_POLY
    return register


def _message_bits(watermark_id: int, layout: _Layout) -> np.ndarray:
    payload = bits_of(watermark_id, PAYLOAD_BITS)
    return np.concatenate([payload, bits_of(_crc(payload, layout.crc_init), CRC_BITS)]) ^ layout.scramble


def _payload_from_message(message: np.ndarray, layout: _Layout) -> int | None:
    plain = message ^ layout.scramble
    payload, check = plain[:PAYLOAD_BITS], plain[PAYLOAD_BITS:]
    if _crc(payload, layout.crc_init) != int_of(check):
        return None
    return int_of(payload)
