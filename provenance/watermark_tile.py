"""Watermark version 2 (``tile-ss.1``): a keyed spread-spectrum tile that survives crops,
rescaling, single stills and short cuts.

Why this design
- A crop moves every frame-relative frequency, so version 1 (provenance.watermark_dct)
  loses the mark when a copy is cropped. Here the mark is one small tile repeated over the
  whole frame: any window of a few tiles holds all of it, and the reader finds the tile's
  size (undoing a rescale) and its phase (undoing a crop, centred or not) from key pilot
  chips before reading the payload.
- Payload: the 32-bit registry id plus a 24-bit truncated HMAC-SHA256 tag under the
  watermark key. The id is what the output registry already stores, so nothing else
  changes; the tag means nobody without the key can write a valid mark, and it is the
  false-positive control: a read tries at most 6 sync hypotheses, each accepting a
  random payload with chance 2**-24. A 64-bit payload was measured too: it spreads the
  same energy over half as many chips per bit and missed quarter-area copies and stills.
  The 56 message bits are XOR-scrambled with a key mask and coded with
  provenance.watermark_code's rate-1/3 convolutional code (186 coded bits).
- Carrier: a tile of 20 x 20 chips of +-1: 118 key-placed pilot chips with key signs (for
  synchronisation) and 282 data chips, key-permuted with key signs, carrying the 186 coded
  bits cyclically (the first 96 twice). Fewer pilots than that lose sync; more take energy
  from the payload (with 214 pilots and one chip a bit, single stills of noisy content and
  re-encoded copies read markedly worse). The chips are drawn
  as an interpolating cubic spline (sharp chips, no inter-chip interference), c x c pixels
  a chip, c = short side / 80 (a tile is a quarter of the short side) but at least 4 px,
  since 3-px chips are lost to H.264 at CRF 28, unless a side would then hold fewer than
  2.5 tiles (small stills get 3-px chips). The same tile goes into every frame, added
  equally to R, G and B (luma only).
- Strength: shaped by an absolute texture mask (local rms of high-passed luma), so smooth
  gradients and flat areas get almost nothing and busy areas up to twice the mean; the
  strength is capped at 4 luma rms and at a PSNR of 40.6 dB per frame (42.3 as a
  clip's first layer). A nearly flat
  frame therefore carries almost no mark, and reading it returns None.
- Reading: each frame is scaled to a short side of at most 256, high-passed, locally
  whitened and added to a running mean (TileResidual), so memory stays at one frame.
  The tile period is found by a log-spaced scan plus autocorrelation candidates, each
  scored by the pilot sync peak, the best three refined in 0.25% steps; the residual is
  resampled so a tile is 40 px, folded modulo 40, and the cyclic shift is the pilots'
  FFT cross-correlation peak. Chips are read as Wiener-deconvolved 2x2 block means,
  summed per coded bit, weighted by pilot SNR, Viterbi-decoded and accepted only if the tag matches. Brightness
  and contrast changes do not matter: the decision is a sign of a zero-mean correlation.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from scipy import ndimage

from provenance.watermark_code import bits_of, coded_length, encode, int_of, viterbi

ALGORITHM = "com.bespoke.watermark.tile-ss.1"
PAYLOAD_BITS = 32
TAG_BITS = 24
MIN_SIDE = 128  # smallest frame side the mark is embedded into: 3-px chips, 60-px tiles, 2.1 tiles a side
READ_SIDE = 256  # the reader scales frames so that their short side is at most this

_N = 20  # chips per tile side
_CHIPS = _N * _N
_MESSAGE_BITS = PAYLOAD_BITS + TAG_BITS
_CODED_BITS = coded_length(_MESSAGE_BITS)
_PILOTS = 118  # enough for synchronisation; the other 282 chips carry the coded bits
_TILES_PER_SHORT_SIDE = 4.0
TARGET_PSNR_DB = 40.6
LAYERED_PSNR_DB = 42.3  # as a clip's first layer, leaving room for version 1's (provenance.watermark_dct)
_MAX_GAIN = 4.0  # luma rms of the pattern where the mask is 1
_MASK_REF = 6.0  # local rms of high-passed luma at which the mask is 1
_MASK_FLOOR = 0.3
_MASK_EXP = 0.8
_MASK_LO, _MASK_HI = 0.05, 2.0

_HP_SIGMA = 2.0
_WHITEN_RADIUS = 4
_WHITEN_CLIP = 3.0
_WHITEN_EPS = 0.5
_PC = 2 * _N  # tile period the reader resamples to: 2 px a chip
_P_MIN = 22.0  # smallest period searched, in reader pixels
_MIN_TILES_READ = 1.5  # largest period searched: the short side over this
_Z_MIN = 3.8  # sync z-score below which a hypothesis is not decoded
_PERIOD_TRIES = 3
_WIENER = 0.05
_CONFIDENCE_MIN = 0.30  # codeword agreement; the tag is the main false-positive guard
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class TileDecode:
    """The outcome of decoding a residual: the id (None when no valid mark was found), and
    the hard coded-bit decisions of the best hypothesis (None without any sync), for
    measuring bit accuracy."""

    watermark_id: int | None
    confidence: float
    coded_bits: np.ndarray | None


@dataclass(frozen=True, eq=False)
class _Layout:
    key: bytes
    pilot_pos: np.ndarray
    pilot_sign: np.ndarray
    data_pos: np.ndarray  # chip index of data chip i, which carries coded bit i % _CODED_BITS
    data_sign: np.ndarray
    scramble: np.ndarray


class TileResidual:
    """Running mean of the frames' whitened high-pass luma at reader scale (one frame of memory).

    The first frame fixes the reader size; later frames of another size are scaled to it.
    """

    def __init__(self) -> None:
        self._sum: np.ndarray | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def add(self, frame: np.ndarray) -> None:
        """Add one (H, W, 3) uint8 RGB frame."""
        luma = frame.astype(np.float32) @ _LUMA
        if self._size is None:
            self._size = reader_size(*luma.shape)
        if luma.shape != (self._size[1], self._size[0]):
            luma = cv2.resize(luma, self._size, interpolation=cv2.INTER_AREA)
        residual = _high_pass(luma)
        window = (2 * _WHITEN_RADIUS + 1,) * 2
        rms = np.sqrt(np.maximum(cv2.blur(residual * residual, window, borderType=cv2.BORDER_REFLECT), 0.0))
        residual = np.clip(residual / (rms + _WHITEN_EPS), -_WHITEN_CLIP, _WHITEN_CLIP)
        self._sum = residual if self._sum is None else self._sum + residual
        self.frames += 1

    def mean(self) -> np.ndarray | None:
        if self._sum is None:
            return None
        mean = self._sum / self.frames
        return mean - mean.mean()


def reader_size(height: int, width: int) -> tuple[int, int]:
    """(width, height) the reader scales a frame of this size to."""
    scale = min(1.0, READ_SIDE / min(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def tile_mark(frames: np.ndarray, watermark_id: int, *, key: bytes,
              target_psnr_db: float = TARGET_PSNR_DB) -> np.ndarray:
    """``frames`` (T, H, W, 3 float32, 0..255, sides >= MIN_SIDE) plus the mark of ``watermark_id``,
    at ``target_psnr_db`` per frame (less where the texture mask's cap binds), not rounded or clipped."""
    pattern, cell = _pattern(frames.shape[1], frames.shape[2], watermark_id, key)
    target_mse = (255.0 / 10 ** (target_psnr_db / 20)) ** 2
    out = np.empty_like(frames, dtype=np.float32)
    for index in range(len(frames)):
        frame = frames[index].astype(np.float32)
        shaped = _texture_mask(frame @ _LUMA, cell) * pattern
        gain = min(_MAX_GAIN, float(np.sqrt(target_mse / max(float(np.mean(shaped**2)), 1e-9))))
        out[index] = frame + gain * shaped[..., None]
    return out


def tile_unmark(frames: np.ndarray, watermark_id: int, *, key: bytes) -> np.ndarray:
    """``frames`` (T, H, W, 3 float32) with the tile of ``watermark_id`` at their size taken out, as
    much of it as each frame still holds (its gain is estimated from the frame's high-pass luma,
    so a copy that a codec weakened loses what is left, not more), not rounded or clipped."""
    pattern, cell = _pattern(frames.shape[1], frames.shape[2], watermark_id, key)
    out = np.empty_like(frames, dtype=np.float32)
    for index in range(len(frames)):
        frame = frames[index].astype(np.float32)
        luma = frame @ _LUMA
        shaped = _texture_mask(luma, cell) * pattern
        expected = _high_pass(shaped)
        gain = float(np.sum(_high_pass(luma) * expected) / max(float(np.sum(expected**2)), 1e-9))
        out[index] = frame - min(max(gain, 0.0), _MAX_GAIN) * shaped[..., None]
    return out


def _pattern(height: int, width: int, watermark_id: int, key: bytes) -> tuple[np.ndarray, int]:
    """(H, W) unit-rms tiling of the mark of ``watermark_id`` for a frame of this size, and its chip size."""
    cell = _cell_size(height, width)
    period = _N * cell
    tile = _render_tile(_chip_grid(_layout(key), watermark_id), cell, period)
    return np.tile(tile / np.sqrt(np.mean(tile**2)), (-(-height // period), -(-width // period)))[:height, :width], cell


def _high_pass(luma: np.ndarray) -> np.ndarray:
    return luma - cv2.GaussianBlur(luma, (0, 0), _HP_SIGMA, borderType=cv2.BORDER_REFLECT)


def tile_read(residual: np.ndarray, *, key: bytes) -> TileDecode:
    """Find the tile in a TileResidual mean and decode it."""
    layout = _layout(key)
    best = TileDecode(None, 0.0, None)
    limit = min(residual.shape) / _MIN_TILES_READ
    if limit < _P_MIN:
        return best
    coarse = list(_P_MIN * 1.03 ** np.arange(int(np.log(limit / _P_MIN) / np.log(1.03)) + 1))
    scored = sorted(((_sync(_fold(residual, period), layout.key, peaks=1)[0][0], period)
                     for period in coarse + _period_candidates(residual, limit)), reverse=True)
    starts: list[float] = []
    for _, period in scored:
        if all(abs(period / other - 1) > 0.04 for other in starts):
            starts.append(period)
        if len(starts) >= _PERIOD_TRIES:
            break
    for start in starts:
        refined = [(_sync(_fold(residual, period), layout.key, peaks=1)[0][0], period)
                   for period in start * (1 + np.arange(-8, 9) * 0.0025)]
        period = max(refined)[1]
        tile = _fold(residual, period)
        for z, dy, dx in _sync(tile, layout.key, peaks=2):
            if z < _Z_MIN:
                continue
            decoded = _decode(_chips(tile, dy, dx), layout)
            if decoded.watermark_id is not None:
                return decoded
            if best.coded_bits is None:
                best = decoded
    return best


def tile_coded_bits(watermark_id: int, *, key: bytes) -> np.ndarray:
    """The coded bits a mark of ``watermark_id`` carries under ``key``."""
    return encode(_message(watermark_id, _layout(key)))


# --- layout and payload --------------------------------------------------------------------

@lru_cache(maxsize=16)
def _layout(key: bytes) -> _Layout:
    seed = int.from_bytes(hashlib.sha256(b"bespoke-wm-tile-v1\0" + key).digest()[:16], "big")
    rng = np.random.default_rng(seed)
    order = rng.permutation(_CHIPS)
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), _CHIPS)
    return _Layout(key=key, pilot_pos=order[:_PILOTS], pilot_sign=signs[:_PILOTS], data_pos=order[_PILOTS:],
                   data_sign=signs[_PILOTS:], scramble=rng.integers(0, 2, _MESSAGE_BITS, dtype=np.uint8))


def _tag(watermark_id: int, key: bytes) -> np.ndarray:
    mac = hmac.new(key, b"bespoke-wm-tag\0" + watermark_id.to_bytes(PAYLOAD_BITS // 8, "big"), hashlib.sha256)
    return bits_of(int.from_bytes(mac.digest()[:4], "big") >> (32 - TAG_BITS), TAG_BITS)


def _message(watermark_id: int, layout: _Layout) -> np.ndarray:
    return np.concatenate([bits_of(watermark_id, PAYLOAD_BITS), _tag(watermark_id, layout.key)]) ^ layout.scramble


def _chip_grid(layout: _Layout, watermark_id: int | None) -> np.ndarray:
    """The N x N chips: pilots, and the coded bits of ``watermark_id`` (none for None)."""
    grid = np.zeros(_CHIPS, dtype=np.float32)
    grid[layout.pilot_pos] = layout.pilot_sign
    if watermark_id is not None:
        coded = encode(_message(watermark_id, layout))
        grid[layout.data_pos] = layout.data_sign * (1.0 - 2.0 * coded[np.arange(len(layout.data_pos)) % _CODED_BITS])
    return grid.reshape(_N, _N)


def _render_tile(grid: np.ndarray, cell: float, size: int) -> np.ndarray:
    """size x size samples of the periodic interpolating spline through ``grid``, ``cell`` px a chip."""
    coords = (np.arange(size) + 0.5) / cell - 0.5
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    return ndimage.map_coordinates(grid, [yy, xx], order=3, mode="grid-wrap", prefilter=True).astype(np.float32)


def _cell_size(height: int, width: int) -> int:
    """Pixels a chip: a quarter of the short side a tile, at least 4 px (3-px chips do not survive
    H.264 at CRF 28) unless that leaves fewer than 2.5 tiles a side, and never under 3 px."""
    short = min(height, width)
    return max(3, min(max(4, round(short / (_N * _TILES_PER_SHORT_SIDE))), short // (_N * 5 // 2)))


def _texture_mask(luma: np.ndarray, radius: int) -> np.ndarray:
    """Local rms of the high-passed luma, relative to _MASK_REF: smooth gradients count as flat."""
    window = (2 * radius + 1,) * 2
    detail = luma - cv2.GaussianBlur(luma, (0, 0), radius, borderType=cv2.BORDER_REFLECT)
    activity = np.sqrt(np.maximum(cv2.blur(detail * detail, window, borderType=cv2.BORDER_REFLECT), 0.0))
    mask = np.clip(((activity + _MASK_FLOOR) / (_MASK_REF + _MASK_FLOOR)) ** _MASK_EXP, _MASK_LO, _MASK_HI)
    # Smoothed, so that the mask adds no sharp structure of its own.
    return cv2.GaussianBlur(mask, (0, 0), radius / 2 + 0.5)


# --- reading -------------------------------------------------------------------------------

def _period_candidates(residual: np.ndarray, limit: float, count: int = 3) -> list[float]:
    """Tile periods suggested by the residual's autocorrelation along both axes."""
    height, width = residual.shape
    spectrum = np.fft.rfft2(residual, s=(2 * height, 2 * width))
    autocorrelation = np.fft.irfft2(np.abs(spectrum) ** 2, s=(2 * height, 2 * width))
    max_lag = int(min(height, width) * 0.75)
    lags = np.arange(max_lag)
    profile = autocorrelation[0, :max_lag] / (height * (width - lags)) \
        + autocorrelation[:max_lag, 0] / ((height - lags) * width)
    profile = profile / max(autocorrelation[0, 0] / (height * width) * 2, 1e-12)
    periods = np.arange(_P_MIN, limit, 0.25)
    if len(periods) < 3:
        return []

    def at(x: np.ndarray) -> np.ndarray:
        return np.interp(x, lags, profile, right=0.0)

    score = at(periods) + 0.5 * np.where(2 * periods < max_lag, at(2 * periods), 0.0) \
        - 0.5 * (at(periods / 2) + at(periods * 1.5))
    peaks = [i for i in range(1, len(score) - 1) if score[i] >= score[i - 1] and score[i] >= score[i + 1]]
    peaks.sort(key=lambda i: -score[i])
    out: list[float] = []
    for i in peaks:
        if all(abs(periods[i] - p) > 2.0 for p in out):
            out.append(float(periods[i]))
        if len(out) >= count:
            break
    return out


def _fold(residual: np.ndarray, period: float) -> np.ndarray:
    """Resample so that ``period`` becomes _PC px, and average all tile copies (partial ones too)."""
    scale = _PC / period
    height, width = residual.shape
    new_h, new_w = int(height * scale), int(width * scale)
    if new_h < _PC or new_w < _PC:
        return np.zeros((_PC, _PC), np.float32)
    resampled = cv2.resize(residual, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    rows, cols = -(-new_h // _PC), -(-new_w // _PC)
    padded = np.zeros((rows * _PC, cols * _PC), np.float32)
    counts = np.zeros_like(padded)
    padded[:new_h, :new_w] = resampled
    counts[:new_h, :new_w] = 1.0
    tile = padded.reshape(rows, _PC, cols, _PC).sum(axis=(0, 2))
    return tile / np.maximum(counts.reshape(rows, _PC, cols, _PC).sum(axis=(0, 2)), 1)


@lru_cache(maxsize=16)
def _pilot_spectrum(key: bytes) -> np.ndarray:
    pilot = _render_tile(_chip_grid(_layout(key), None), 2.0, _PC)
    return np.conj(np.fft.fft2(pilot - pilot.mean()))


def _sync(tile: np.ndarray, key: bytes, *, peaks: int) -> list[tuple[float, int, int]]:
    """The best ``peaks`` (z-score, dy, dx) shifts of the pilot pattern in a folded tile."""
    flat = np.real(np.fft.ifft2(np.fft.fft2(tile) * _pilot_spectrum(key))).ravel()
    mean, spread = flat.mean(), flat.std() + 1e-12
    out: list[tuple[float, int, int]] = []
    for index in np.argsort(flat)[::-1]:
        dy, dx = divmod(int(index), _PC)
        if all(_cyclic(dy - a) + _cyclic(dx - b) > 3 for _, a, b in out):
            out.append((float((flat[index] - mean) / spread), dy, dx))
        if len(out) >= peaks:
            break
    return out


def _cyclic(delta: int) -> int:
    delta %= _PC
    return min(delta, _PC - delta)


@lru_cache(maxsize=1)
def _chip_response() -> np.ndarray:
    """FFT of the chip-domain response of drawing a chip at 2 px and reading 2x2 block means."""
    delta = np.zeros((_N, _N), np.float32)
    delta[0, 0] = 1.0
    return np.fft.fft2(_render_tile(delta, 2.0, _PC).reshape(_N, 2, _N, 2).mean(axis=(1, 3)))


def _chips(tile: np.ndarray, dy: int, dx: int) -> np.ndarray:
    cells = np.roll(tile, (-dy, -dx), axis=(0, 1)).reshape(_N, 2, _N, 2).mean(axis=(1, 3))
    response = _chip_response()
    regularisation = _WIENER * np.max(np.abs(response)) ** 2
    return np.real(np.fft.ifft2(np.fft.fft2(cells) * np.conj(response)
                                / (np.abs(response) ** 2 + regularisation))).ravel()


def _decode(chips: np.ndarray, layout: _Layout) -> TileDecode:
    pilots = chips[layout.pilot_pos] * layout.pilot_sign
    gain, noise = float(pilots.mean()), float(pilots.std()) + 1e-9
    soft = np.bincount(np.arange(len(layout.data_pos)) % _CODED_BITS, chips[layout.data_pos] * layout.data_sign,
                       minlength=_CODED_BITS) * (gain / noise**2)
    message = viterbi(soft)
    confidence = float(np.dot(soft, 1.0 - 2.0 * encode(message)) / (np.abs(soft).sum() + 1e-12))
    plain = message ^ layout.scramble
    watermark_id = int_of(plain[:PAYLOAD_BITS])
    valid = gain > 0 and confidence >= _CONFIDENCE_MIN \
        and hmac.compare_digest(plain[PAYLOAD_BITS:].tobytes(), _tag(watermark_id, layout.key).tobytes())
    return TileDecode(watermark_id if valid else None, confidence, (soft < 0).astype(np.uint8))
