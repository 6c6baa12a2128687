"""An invisible, keyed video watermark that carries an output's 32-bit watermark id.

It is the durable layer of Bespoke's provenance marking: the C2PA manifest can be
stripped from a file, this mark survives re-encoding, halving the resolution and
cutting the clip.

How it works
- Domain: the luma of each frame, projected onto low/mid-frequency 2-D cosines whose
  frequencies are defined relative to the frame size (cos(pi*u*(y+0.5)/H) ...). These
  are DCT-II basis functions at any resolution, so the mark reads the same at 256x256,
  after halving to 128x128, or at 320x256.
- Payload: the 32-bit id plus a keyed CRC-16, scrambled with a key-derived mask, coded
  with a rate-1/3, constraint-length-7 convolutional code (soft Viterbi decoding).
- Spread-transform dither modulation: each coded bit owns a key-chosen set of cosine
  coefficients with key-chosen signs; the bit is carried by quantising that signed
  mean onto one of two interleaved, key-dithered lattices. Being quantisation, the
  picture's own content does not interfere with reading, and the change needed is set
  by the lattice step alone, which is sized for a fixed PSNR. A texture mask moves the
  change from flat areas into busy ones, and a few corrections keep it on the lattice.
- Temporal redundancy: every frame carries the whole payload; the reader sums per-frame
  soft values (soft voting), weighting each frame by how close it sits to the lattices.
- Detection: a reading is returned only if the CRC matches and the decoded codeword
  agrees strongly with the soft values; unmarked video or a wrong key gives None.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ALGORITHM = "com.bespoke.watermark.dct-stdm.1"
VERSION = 1
PAYLOAD_BITS = 32
CRC_BITS = 16
MIN_SIDE = 128  # smallest frame side the mark is embedded into
MIN_READ_SIDE = 48  # below this there is no usable signal left to read
READ_MAX_SIDE = 512  # a file's frames are scaled down to this before reading
MAX_SOURCE_SIDE = 8192  # larger frames are refused rather than decoded

# Cosine frequencies used (indices of the frame-size DCT): low enough to survive halving
# and H.264 at CRF 28; the very lowest are left out, they would show as shading.
_MAX_FREQ = 34
_MIN_RADIUS = 5.0
_MAX_RADIUS = 34.0
_TARGET_PSNR_DB = 40.5
_CONFIDENCE_MIN = 0.85
_MASK_STRENGTH = 0.5  # exponent on relative local activity; 0 would be a uniform mark
_MASK_FLOOR = 4.0  # luma units of activity that even a flat area is credited with
_REFINEMENTS = 3

_CONSTRAINT = 7
_GENERATORS = (0o133, 0o171, 0o165)
_CRC16_POLY = 0x1021
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_MESSAGE_BITS = PAYLOAD_BITS + CRC_BITS
_CODED_BITS = (_MESSAGE_BITS + _CONSTRAINT - 1) * len(_GENERATORS)


class WatermarkError(ValueError):
    """Bad input to the watermark (frames, id, key) or a video that cannot be decoded."""


@dataclass(frozen=True)
class WatermarkReading:
    watermark_id: int
    confidence: float  # agreement of the soft projections with the decoded codeword, 0..1
    frames_used: int


def watermark_embed(frames: np.ndarray, watermark_id: int, *, key: bytes) -> np.ndarray:
    """Return a copy of ``frames`` (T, H, W, 3 uint8 RGB) carrying ``watermark_id`` in every frame."""
    _check_frames(frames, min_side=MIN_SIDE)
    if isinstance(watermark_id, bool) or not isinstance(watermark_id, (int, np.integer)) \
            or not 0 <= int(watermark_id) < 2**PAYLOAD_BITS:
        raise WatermarkError(f"watermark id must be an integer in [0, 2**{PAYLOAD_BITS}), got {watermark_id!r}")
    layout = _layout(_check_key(key))
    signs = 1.0 - 2.0 * _encode(_message_bits(int(watermark_id), layout), layout)
    count, height, width, _ = frames.shape
    rows, cols = _basis(height), _basis(width)

    out = frames.astype(np.float32)
    luma = out @ _LUMA
    step = _step(layout)
    projections = _projections(luma, rows, cols, layout)
    # Move each bit's projection to the nearest point of its lattice: the key's dither plus
    # a multiple of the step, offset by half a step for coded bit 1.
    offset = step * layout.dither + np.where(signs > 0, 0.0, step / 2)
    target = offset + step * np.rint((projections - offset) / step)
    # The mark is shaped by a texture mask (stronger in busy areas, weaker in flat ones),
    # which blurs its projections; a few corrections put them back on the lattice.
    mask = _texture_mask(luma)[..., None]
    gain = mask.mean(axis=(1, 2, 3))[:, None]
    amplitudes = (target - projections) / gain
    coeffs = np.zeros((count, _MAX_FREQ, _MAX_FREQ), dtype=np.float32)
    for refinement in range(_REFINEMENTS + 1):
        coeffs[:, layout.u, layout.v] = amplitudes[:, layout.bit] * layout.chip
        marked = np.clip(out + mask * (rows.T @ coeffs @ cols)[..., None], 0, 255)
        if refinement < _REFINEMENTS:
            amplitudes += (target - _projections(marked @ _LUMA, rows, cols, layout)) / gain
    return np.rint(marked).astype(np.uint8)


def watermark_read(frames: np.ndarray, *, key: bytes) -> WatermarkReading | None:
    """The watermark id carried by ``frames`` (T, H, W, 3 uint8 RGB), or None if there is none."""
    _check_frames(frames, min_side=MIN_READ_SIDE)
    return _read_luma(frames.astype(np.float32) @ _LUMA, _layout(_check_key(key)))


def watermark_read_file(path: Path, *, key: bytes, max_frames: int = 64) -> WatermarkReading | None:
    """Decode up to ``max_frames`` frames of a video file and read its watermark.

    Frames are scaled down to at most READ_MAX_SIDE pixels a side as they are decoded (the
    mark lives in low frequencies relative to the frame size) and reduced to their
    projections one by one, so memory stays small whatever the file claims to hold.
    Raises WatermarkError if the file cannot be opened or decoded, or its frames are
    larger than MAX_SOURCE_SIDE.
    """
    import av

    layout = _layout(_check_key(key))
    if max_frames < 1:
        raise WatermarkError("max_frames must be at least 1")
    name = Path(path).name
    projections: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise WatermarkError(f"{name}: no video stream")
            context = container.streams.video[0].codec_context
            if max(context.width, context.height) > MAX_SOURCE_SIDE:
                raise WatermarkError(f"{name}: frames larger than {MAX_SOURCE_SIDE} pixels are not read")
            scale = min(1.0, READ_MAX_SIDE / max(context.width, context.height, 1))
            width, height = round(context.width * scale), round(context.height * scale)
            if min(width, height) < MIN_READ_SIDE:
                return None
            rows, cols = _basis(height), _basis(width)
            for frame in container.decode(video=0):
                rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
                projections.append(_projections((rgb.astype(np.float32) @ _LUMA)[None], rows, cols, layout)[0])
                if len(projections) >= max_frames:
                    break
    except (av.FFmpegError, OSError, ValueError) as exc:
        if isinstance(exc, WatermarkError):
            raise
        raise WatermarkError(f"{name}: cannot decode video ({exc})") from exc
    if not projections:
        raise WatermarkError(f"{name}: no decodable video frames")
    return _read_projections(np.stack(projections), layout)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 arrays of the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def watermark_bit_accuracy(frames: np.ndarray, watermark_id: int, *, key: bytes) -> float:
    """Fraction of the coded bits ``frames`` carry that read as those of ``watermark_id``.

    Measured before error correction, so it shows how much margin a reading had.
    """
    _check_frames(frames, min_side=MIN_READ_SIDE)
    layout = _layout(_check_key(key))
    luma = frames.astype(np.float32) @ _LUMA
    soft = _vote(_projections(luma, _basis(luma.shape[1]), _basis(luma.shape[2]), layout), layout)
    signs = 1.0 - 2.0 * _encode(_message_bits(int(watermark_id), layout), layout)
    return float(np.mean(soft * signs > 0))


# --- embedding and reading --------------------------------------------------------------

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


def _texture_mask(luma: np.ndarray) -> np.ndarray:
    """(T, H, W) local luma activity, mean square 1 per frame, bounded both ways."""
    height, width = luma.shape[1:]
    radius = max(1, min(height, width) // 64)
    activity = np.sqrt(np.maximum(_box_mean(luma**2, radius) - _box_mean(luma, radius) ** 2, 0.0))
    mask = ((activity + _MASK_FLOOR) / (activity.mean(axis=(1, 2), keepdims=True) + _MASK_FLOOR)) ** _MASK_STRENGTH
    mask = np.clip(mask, 0.4, 2.5)
    return mask / np.sqrt(np.mean(mask**2, axis=(1, 2), keepdims=True))


def _box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)-square window along the last two axes, edges replicated."""
    size = 2 * radius + 1
    padded = np.pad(values, ((0, 0), (radius + 1, radius), (radius + 1, radius)), mode="edge")
    summed = padded.cumsum(axis=1).cumsum(axis=2)
    window = summed[:, size:, size:] - summed[:, :-size, size:] - summed[:, size:, :-size] + summed[:, :-size, :-size]
    return window / size**2


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) < 8:
        raise WatermarkError("the watermark key must be at least 8 bytes")
    return bytes(key)


def _check_frames(frames: np.ndarray, *, min_side: int) -> None:
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        raise WatermarkError(f"frames must be a (T, H, W, 3) RGB array, got shape {getattr(frames, 'shape', None)}")
    if frames.dtype != np.uint8:
        raise WatermarkError(f"frames must be uint8, got {frames.dtype}")
    count, height, width, _ = frames.shape
    if count < 1:
        raise WatermarkError("frames must hold at least one frame")
    if min(height, width) < min_side:
        raise WatermarkError(f"frames must be at least {min_side}x{min_side} pixels, got {width}x{height}")


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
    """(T, coded bits) mean chip-weighted coefficient of each bit's coefficients, per frame.

    Coefficients are scaled so that adding amplitude a times a basis image reads back as a.
    """
    height, width = luma.shape[1:]
    coeffs = (rows @ luma @ cols.T) * (4.0 / (height * width))
    weighted = coeffs[:, layout.u, layout.v] * layout.chip
    sums = np.zeros((luma.shape[0], _CODED_BITS), dtype=np.float32)
    np.add.at(sums.T, layout.bit, weighted.T)
    return sums / layout.per_bit


def _step(layout: _Layout) -> float:
    """Lattice step of the projections for the target PSNR.

    Moving a bit's projection by d costs n*d^2 of coefficient energy (n = its coefficient
    count); quantisation moves it uniformly within +-step/2, so the expected total is
    N*step^2/12, and a cosine of amplitude a adds a^2/4 to the mean squared error.
    """
    mse = (255.0 / 10 ** (_TARGET_PSNR_DB / 20)) ** 2
    return float(np.sqrt(12.0 * 4.0 * mse / layout.per_bit.sum()))


def _read_luma(luma: np.ndarray, layout: _Layout) -> WatermarkReading | None:
    height, width = luma.shape[1:]
    return _read_projections(_projections(luma, _basis(height), _basis(width), layout), layout)


def _read_projections(projections: np.ndarray, layout: _Layout) -> WatermarkReading | None:
    """Vote the per-frame projections (T, coded bits), decode, and check the result."""
    soft = _vote(projections, layout)
    message = _viterbi(soft)
    codeword_signs = 1.0 - 2.0 * _encode(message, layout)
    confidence = float(np.dot(soft, codeword_signs) / (np.abs(soft).sum() + 1e-9))
    payload = _payload_from_message(message, layout)
    if payload is None or confidence < _CONFIDENCE_MIN:
        return None
    return WatermarkReading(watermark_id=payload, confidence=round(confidence, 4), frames_used=len(projections))


def _vote(projections: np.ndarray, layout: _Layout) -> np.ndarray:
    phase = 2 * np.pi * (projections / _step(layout) - layout.dither)
    # Per frame: +1 on the lattice of coded bit 0, -1 on that of coded bit 1. Frames are
    # weighted by how close their projections lie to either lattice (about 0 for a frame
    # without the mark), so frames a codec smeared count less than intact ones.
    quality = np.clip(np.cos(2 * phase).mean(axis=1, keepdims=True), 0.0, None)
    return (quality * np.cos(phase)).sum(axis=0)


# --- payload coding ---------------------------------------------------------------------

def _bits(value: int, count: int) -> np.ndarray:
    return np.array([(value >> (count - 1 - i)) & 1 for i in range(count)], dtype=np.uint8)


def _crc(bits: np.ndarray, init: int) -> int:
    register = init
    for bit in bits:
        top = ((register >> (CRC_BITS - 1)) & 1) ^ int(bit)
        register = (register << 1) & ((1 << CRC_BITS) - 1)
        if top:
            register ^= _CRC16_POLY
    return register


def _message_bits(watermark_id: int, layout: _Layout) -> np.ndarray:
    payload = _bits(watermark_id, PAYLOAD_BITS)
    return np.concatenate([payload, _bits(_crc(payload, layout.crc_init), CRC_BITS)]) ^ layout.scramble


def _payload_from_message(message: np.ndarray, layout: _Layout) -> int | None:
    plain = message ^ layout.scramble
    payload, check = plain[:PAYLOAD_BITS], plain[PAYLOAD_BITS:]
    if _crc(payload, layout.crc_init) != int("".join(map(str, check)), 2):
        return None
    return int("".join(map(str, payload)), 2)


@lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each next state: its two previous states, and the output signs of both branches."""
    states = 1 << (_CONSTRAINT - 1)
    next_state = np.arange(states)
    bit = next_state >> (_CONSTRAINT - 2)
    previous = np.stack([((next_state & (states // 2 - 1)) << 1) | x for x in (0, 1)], axis=1)
    registers = (bit[:, None] << (_CONSTRAINT - 1)) | previous
    outputs = np.stack([_parity(registers & g) for g in _GENERATORS], axis=-1)
    return previous, 1.0 - 2.0 * outputs.astype(np.float32), bit


def _parity(values: np.ndarray) -> np.ndarray:
    return np.array([bin(int(x)).count("1") & 1 for x in values.ravel()], dtype=np.uint8).reshape(values.shape)


def _encode(message: np.ndarray, layout: _Layout) -> np.ndarray:
    """Convolutional code with a zero tail: (len(message) + 6) * 3 coded bits."""
    state, out = 0, []
    for bit in np.concatenate([message, np.zeros(_CONSTRAINT - 1, dtype=np.uint8)]):
        register = (int(bit) << (_CONSTRAINT - 1)) | state
        out.extend(bin(register & g).count("1") & 1 for g in _GENERATORS)
        state = register >> 1
    return np.array(out, dtype=np.uint8)


def _viterbi(soft: np.ndarray) -> np.ndarray:
    """Maximum-correlation message for soft values (positive means coded bit 0)."""
    previous, branch_signs, input_bit = _trellis()
    rate = len(_GENERATORS)
    steps = len(soft) // rate
    metric = np.full(len(previous), -np.inf)
    metric[0] = 0.0
    choices = np.zeros((steps, len(previous)), dtype=np.uint8)
    for step in range(steps):
        branch = branch_signs @ soft[step * rate:(step + 1) * rate]
        candidates = metric[previous] + branch
        choice = np.argmax(candidates, axis=1)
        choices[step] = choice
        metric = candidates[np.arange(len(previous)), choice]
    state, bits = 0, np.zeros(steps, dtype=np.uint8)
    for step in range(steps - 1, -1, -1):
        bits[step] = input_bit[state]
        state = previous[state, choices[step, state]]
    return bits[:steps - (_CONSTRAINT - 1)]
