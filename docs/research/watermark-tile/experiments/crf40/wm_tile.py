"""Copy of ../../wm.py for the CRF 40 experiments (some constants read from WM_* env vars).

Prototype: a crop- and scale-robust keyed watermark for video and stills (issue 17).

Design (classical, no learned weights):
- Payload: 64 bits (WM_PAYLOAD_BITS=32: a 32-bit id) + a 24-bit truncated HMAC-SHA256 tag
  (keyed), XOR-scrambled with a key mask, rate-1/3 K=7 convolutional code (282 coded bits
  for 64, 186 for 32), soft Viterbi.
- Carrier: a periodic tile of N x N = 20 x 20 "chips" (+-1). The chips not used by coded
  bits are key-chosen pilots with key signs (118 for 64-bit, 214 for 32-bit) that serve
  synchronisation; the data chips are key-permuted with key signs. The chip grid is drawn
  as an interpolating cubic spline, one chip per c x c pixels (c = max(3, short side / 80),
  tile = short side / 4), and tiled over the whole frame: the same tile in every frame.
  Added to luma (same delta on R, G, B), shaped by an absolute texture mask (local rms of
  high-passed luma: ~0 on flat areas and smooth gradients, up to 2x in busy ones), strength
  capped for PSNR >= 40.6 dB and at 4 luma rms.
- Reading: frames scaled so the short side is <= 256, high-passed, locally whitened and
  averaged over frames. The tile period P (which undoes any scaling) is found by a
  log-spaced scan plus autocorrelation candidates, each scored by the pilot sync peak and
  refined in 0.25% steps; the residual is resampled so that P -> 40 px (2 px per chip),
  folded modulo 40 (adds all tile copies), and the cyclic shift (which undoes any crop) is
  the FFT cross-correlation peak with the pilot pattern. Chips are read as Wiener-
  deconvolved 2x2 block means, Viterbi-decoded, and accepted only if the HMAC tag matches.
  Spread spectrum and a sign decision: brightness/contrast changes do not matter.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from scipy import ndimage

ALGORITHM = "com.bespoke.watermark.tile-ss.1"  # placeholder; see RESULTS.md on C2PA ids
# 32-bit id + 24-bit keyed MAC by default (recommended, see RESULTS.md); WM_PAYLOAD_BITS=64 for 64 bits
PAYLOAD_BITS = int(os.environ.get("WM_PAYLOAD_BITS", "32"))
TAG_BITS = 24
N = 20  # chips per tile side
CHIPS = N * N
_CONSTRAINT = 7
_GENERATORS = (0o133, 0o171, 0o165)
MESSAGE_BITS = PAYLOAD_BITS + TAG_BITS
CODED_BITS = (MESSAGE_BITS + _CONSTRAINT - 1) * len(_GENERATORS)  # 282
PILOTS = int(os.environ.get("WM_PILOTS", str(CHIPS - CODED_BITS)))  # the rest carry coded bits, cyclically
DATA_CHIPS = CHIPS - PILOTS

TILE_FRACTION = float(os.environ.get("WM_TILE_FRACTION", "4.0"))  # tile = short side / TILE_FRACTION at embedding
TARGET_PSNR_DB = float(os.environ.get("WM_TARGET_PSNR", "40.6"))
G_MAX = float(os.environ.get("WM_G_MAX", "4.0"))  # luma rms of the pattern where the mask is 1
MASK_REF = 6.0  # local rms of high-passed luma at which the mask is 1
MASK_FLOOR = 0.3
MASK_EXP = 0.8
MASK_LO, MASK_HI = 0.05, 2.0
INFORMED_STEPS = int(os.environ.get("WM_INFORMED", "0"))
INFORMED_RATE = 0.8
A_MIN, A_MAX = 0.3, 3.0

READ_SIDE = 256  # reader works with short side <= this
HP_SIGMA = float(os.environ.get("WM_HP_SIGMA", "2.0"))
WHITEN_RADIUS = int(os.environ.get("WM_WHITEN_RADIUS", "4"))
PC = 2 * N  # canonical period at reading: 2 px per chip
P_MIN = 22.0
P_MAX_DIV = float(os.environ.get("WM_PMAX_DIV", "2.2"))  # longest period tried = short side / this
Z_MIN = 3.8  # sync z-score needed to try decoding
PERIOD_TRIES = 3  # period hypotheses refined and decoded
WIENER = float(os.environ.get("WM_WIENER", "0.05"))  # regularisation of the chip deconvolution
WHITEN_CLIP = 3.0
WHITEN_EPS = 0.5
SPLINE_PREFILTER = True  # True: interpolating spline (sharper chips)
CONF_MIN = 0.30  # codeword agreement needed (HMAC tag is the main false-positive guard)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# --- key layout ----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Layout:
    key: bytes
    pilot_pos: np.ndarray  # flat chip indices of pilots
    pilot_sign: np.ndarray
    data_pos: np.ndarray  # flat chip index of data chip i (it carries coded bit i % CODED_BITS)
    data_sign: np.ndarray
    scramble: np.ndarray


@lru_cache(maxsize=16)
def layout(key: bytes) -> Layout:
    if not isinstance(key, (bytes, bytearray)) or len(key) < 8:
        raise ValueError("key must be >= 8 bytes")
    seed = int.from_bytes(hashlib.sha256(b"bespoke-wm-tile-v1\0" + bytes(key)).digest()[:16], "big")
    rng = np.random.default_rng(seed)
    order = rng.permutation(CHIPS)
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), CHIPS)
    return Layout(key=bytes(key), pilot_pos=order[:PILOTS], pilot_sign=signs[:PILOTS],
                  data_pos=order[PILOTS:], data_sign=signs[PILOTS:],
                  scramble=rng.integers(0, 2, MESSAGE_BITS, dtype=np.uint8))


def _to_bits(value: int, count: int) -> np.ndarray:
    return np.array([(value >> (count - 1 - i)) & 1 for i in range(count)], dtype=np.uint8)


def _from_bits(bits: np.ndarray) -> int:
    return int("".join(str(int(b)) for b in bits), 2)


def _tag(payload: int, key: bytes) -> np.ndarray:
    mac = hmac.new(key, b"bespoke-wm-tag\0" + payload.to_bytes(PAYLOAD_BITS // 8, "big"), hashlib.sha256).digest()
    return _to_bits(int.from_bytes(mac[:4], "big") >> (32 - TAG_BITS), TAG_BITS)


def _message(payload: int, lay: Layout) -> np.ndarray:
    return np.concatenate([_to_bits(payload, PAYLOAD_BITS), _tag(payload, lay.key)]) ^ lay.scramble


def _chip_grid(payload: int, lay: Layout, pilots_only: bool = False) -> np.ndarray:
    grid = np.zeros(CHIPS, dtype=np.float32)
    grid[lay.pilot_pos] = lay.pilot_sign
    if not pilots_only:
        coded = _encode(_message(payload, lay))
        grid[lay.data_pos] = lay.data_sign * (1.0 - 2.0 * coded[np.arange(DATA_CHIPS) % CODED_BITS])
    return grid.reshape(N, N)


def _render_tile(grid: np.ndarray, cell: float, size: int) -> np.ndarray:
    """size x size samples of the periodic B-spline pattern with `cell` px per chip (size = N*cell)."""
    coords = (np.arange(size) + 0.5) / cell - 0.5
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    return ndimage.map_coordinates(grid, [yy, xx], order=3, mode="grid-wrap", prefilter=SPLINE_PREFILTER).astype(np.float32)


def cell_size(height: int, width: int) -> int:
    return max(3, round(min(height, width) / (N * TILE_FRACTION)))


def _payload_int(payload) -> int:
    if isinstance(payload, (int, np.integer)) and not isinstance(payload, bool):
        value = int(payload)
    else:
        bits = np.asarray(payload).astype(np.uint8).ravel()
        if bits.size != PAYLOAD_BITS:
            raise ValueError(f"payload must be an int or {PAYLOAD_BITS} bits")
        value = _from_bits(bits)
    if not 0 <= value < 2**PAYLOAD_BITS:
        raise ValueError("payload out of range")
    return value


# --- embedding -----------------------------------------------------------------------------

def texture_mask(luma: np.ndarray, radius: int) -> np.ndarray:
    """Absolute masking: local rms of the high-passed luma (smooth gradients count as flat)."""
    k = (2 * radius + 1, 2 * radius + 1)
    detail = luma - cv2.GaussianBlur(luma, (0, 0), radius, borderType=cv2.BORDER_REFLECT)
    act = np.sqrt(np.maximum(cv2.blur(detail * detail, k, borderType=cv2.BORDER_REFLECT), 0.0))
    mask = ((act + MASK_FLOOR) / (MASK_REF + MASK_FLOOR)) ** MASK_EXP
    mask = np.clip(mask, MASK_LO, MASK_HI)
    # smooth so the mask itself adds no sharp structure
    return cv2.GaussianBlur(mask, (0, 0), radius / 2 + 0.5)


def _reader_chips(frame_rgb: np.ndarray, reader_period: float) -> np.ndarray:
    """What the reader would estimate for each chip of this (unattacked) frame, at shift 0."""
    return _chips(_fold(_residual(frame_rgb[None]), reader_period), 0, 0)


def embed(frames: np.ndarray, payload, key: bytes, *, target_psnr: float = TARGET_PSNR_DB,
          informed: int | None = None) -> np.ndarray:
    """frames (T,H,W,3) or (H,W,3) uint8 RGB -> marked copy carrying the 64-bit payload.

    Informed embedding: per frame, the reader is simulated and each chip's amplitude is
    raised where the picture's own content works against it and lowered where it helps
    (host-interference rejection in the chip domain), then the strength is capped for PSNR.
    """
    single = frames.ndim == 3
    if single:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError("frames must be (T,H,W,3) uint8")
    count, height, width, _ = frames.shape
    if min(height, width) < 96:
        raise ValueError("frames must be at least 96 px a side")
    lay = layout(bytes(key))
    cell = cell_size(height, width)
    period = N * cell
    signs = _chip_grid(_payload_int(payload), lay).ravel()
    norm = float(np.sqrt(np.mean(_render_tile(signs.reshape(N, N), cell, period) ** 2)))
    reps = (-(-height // period), -(-width // period))
    reader_period = period * min(1.0, READ_SIDE / min(height, width))
    target_mse = (255.0 / 10 ** (target_psnr / 20)) ** 2
    informed = INFORMED_STEPS if informed is None else informed
    out = np.empty_like(frames)

    def mark(frame: np.ndarray, mask: np.ndarray, amps: np.ndarray) -> np.ndarray:
        tile = _render_tile((signs * amps).reshape(N, N), cell, period) / norm
        shaped = mask * np.tile(tile, reps)[:height, :width]
        gain = min(G_MAX, float(np.sqrt(target_mse / max(np.mean(shaped**2), 1e-9))))
        return np.clip(np.rint(frame + gain * shaped[..., None]), 0, 255)

    for t in range(count):
        frame = frames[t].astype(np.float32)
        mask = texture_mask(frame @ LUMA, cell)
        amps = np.ones(CHIPS, np.float32)
        marked = mark(frame, mask, amps)
        if informed:
            host = _reader_chips(frames[t], reader_period) * signs
            response = float(np.mean(_reader_chips(marked.astype(np.uint8), reader_period) * signs - host))
            if response > 0:
                for _ in range(informed):
                    est = _reader_chips(marked.astype(np.uint8), reader_period) * signs
                    amps = np.clip(amps + INFORMED_RATE * (response - est) / response, A_MIN, A_MAX)
                    marked = mark(frame, mask, amps)
        out[t] = marked.astype(np.uint8)
    return out[0] if single else out


# --- reading -------------------------------------------------------------------------------

@dataclass
class Reading:
    payload: int | None
    z: float  # sync peak z-score of the best hypothesis
    period: float  # tile period found, in reader pixels
    confidence: float
    coded_bits: np.ndarray | None  # hard decisions on the coded bits (for bit accuracy)


def _residual(frames: np.ndarray) -> np.ndarray:
    """Whitened high-pass luma residual at reader scale, averaged over frames."""
    count, height, width = frames.shape[:3]
    scale = min(1.0, READ_SIDE / min(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    acc = None
    k = 2 * WHITEN_RADIUS + 1
    for t in range(count):
        luma = frames[t].astype(np.float32) @ LUMA
        if scale < 1.0:
            luma = cv2.resize(luma, size, interpolation=cv2.INTER_AREA)
        r = luma - cv2.GaussianBlur(luma, (0, 0), HP_SIGMA, borderType=cv2.BORDER_REFLECT)
        rms = np.sqrt(np.maximum(cv2.blur(r * r, (k, k), borderType=cv2.BORDER_REFLECT), 0.0))
        r = np.clip(r / (rms + WHITEN_EPS), -WHITEN_CLIP, WHITEN_CLIP)
        acc = r if acc is None else acc + r
    acc /= count
    return acc - acc.mean()


def _period_candidates(res: np.ndarray, count: int = 3) -> list[float]:
    h, w = res.shape
    spec = np.fft.rfft2(res, s=(2 * h, 2 * w))
    ac = np.fft.irfft2(np.abs(spec) ** 2, s=(2 * h, 2 * w))
    maxlag = int(min(h, w) * 0.75)
    lags = np.arange(maxlag)
    prof = ac[0, :maxlag] / (h * (w - lags)) + ac[:maxlag, 0] / ((h - lags) * w)
    prof = prof / max(ac[0, 0] / (h * w) * 2, 1e-12)
    p_max = min(h, w) / P_MAX_DIV
    cands = np.arange(P_MIN, p_max, 0.25)
    if len(cands) == 0:
        return []
    interp = lambda x: np.interp(x, lags, prof, right=0.0)
    score = interp(cands) + 0.5 * np.where(2 * cands < maxlag, interp(2 * cands), 0.0) \
        - 0.5 * (interp(cands / 2) + interp(cands * 1.5))
    # local maxima, best first
    peaks = [i for i in range(1, len(score) - 1) if score[i] >= score[i - 1] and score[i] >= score[i + 1]]
    peaks.sort(key=lambda i: -score[i])
    out: list[float] = []
    for i in peaks:
        if all(abs(cands[i] - p) > 2.0 for p in out):
            out.append(float(cands[i]))
        if len(out) >= count:
            break
    return out


def _fold(res: np.ndarray, period: float) -> np.ndarray:
    """Resample so that `period` -> PC px and average all tile copies into one PC x PC tile."""
    s = PC / period
    h, w = res.shape
    hh, ww = int(h * s), int(w * s)
    hh, ww = hh - hh % 1, ww - ww % 1
    if hh < PC or ww < PC:
        return np.zeros((PC, PC), np.float32)
    resampled = cv2.resize(res, (ww, hh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    ny, nx = -(-hh // PC), -(-ww // PC)
    padded = np.zeros((ny * PC, nx * PC), np.float32)
    counts = np.zeros_like(padded)
    padded[:hh, :ww] = resampled
    counts[:hh, :ww] = 1.0
    tile = padded.reshape(ny, PC, nx, PC).sum(axis=(0, 2))
    n = counts.reshape(ny, PC, nx, PC).sum(axis=(0, 2))
    return tile / np.maximum(n, 1)


@lru_cache(maxsize=16)
def _pilot_spectrum(key: bytes) -> np.ndarray:
    lay = layout(key)
    pilot = _render_tile(_chip_grid(0, lay, pilots_only=True), 2.0, PC)
    return np.conj(np.fft.fft2(pilot - pilot.mean()))


def _sync(tile: np.ndarray, key: bytes, peaks: int = 2) -> list[tuple[float, int, int]]:
    corr = np.real(np.fft.ifft2(np.fft.fft2(tile) * _pilot_spectrum(key)))
    flat = corr.ravel()
    sd = flat.std() + 1e-12
    order = np.argsort(flat)[::-1]
    out = []
    for idx in order:
        dy, dx = divmod(int(idx), PC)
        if all(min(abs(dy - a) % PC, PC - abs(dy - a) % PC) + min(abs(dx - b) % PC, PC - abs(dx - b) % PC) > 3
               for _, a, b in out):
            out.append(((flat[idx] - flat.mean()) / sd, dy, dx))
        if len(out) >= peaks:
            break
    return out


@lru_cache(maxsize=1)
def _chip_response() -> np.ndarray:
    """FFT (N x N) of the chip-domain response of render(c=2) followed by 2x2 block means."""
    delta = np.zeros((N, N), np.float32)
    delta[0, 0] = 1.0
    img = _render_tile(delta, 2.0, PC)
    cells = img.reshape(N, 2, N, 2).mean(axis=(1, 3))
    return np.fft.fft2(cells)


def _chips(tile: np.ndarray, dy: int, dx: int) -> np.ndarray:
    aligned = np.roll(tile, (-dy, -dx), axis=(0, 1))
    cells = aligned.reshape(N, 2, N, 2).mean(axis=(1, 3))
    h = _chip_response()
    lam = WIENER * np.max(np.abs(h)) ** 2
    return np.real(np.fft.ifft2(np.fft.fft2(cells) * np.conj(h) / (np.abs(h) ** 2 + lam))).ravel()


def _decode(chips: np.ndarray, lay: Layout) -> tuple[int | None, float, np.ndarray]:
    pilots = chips[lay.pilot_pos] * lay.pilot_sign
    gain = float(pilots.mean())
    noise = float(pilots.std()) + 1e-9
    soft = np.bincount(np.arange(DATA_CHIPS) % CODED_BITS, chips[lay.data_pos] * lay.data_sign,
                       minlength=CODED_BITS) * (gain / noise**2)
    message = _viterbi(soft)
    signs = 1.0 - 2.0 * _encode(message)
    conf = float(np.dot(soft, signs) / (np.abs(soft).sum() + 1e-12))
    plain = message ^ lay.scramble
    payload = _from_bits(plain[:PAYLOAD_BITS])
    ok = gain > 0 and np.array_equal(plain[PAYLOAD_BITS:], _tag(payload, lay.key)) and conf >= CONF_MIN
    return (payload if ok else None), conf, (soft < 0).astype(np.uint8)


def read_detail(frames: np.ndarray, key: bytes) -> Reading:
    if frames.ndim == 3:
        frames = frames[None]
    key = bytes(key)
    lay = layout(key)
    res = _residual(frames)
    best = Reading(None, 0.0, 0.0, 0.0, None)
    # Period: a coarse log-spaced scan scored by the pilot sync peak, plus the autocorrelation
    # candidates; the best few are refined (a 0.5% error smears the fold over a few tiles).
    p_max = min(res.shape) / P_MAX_DIV
    coarse = list(P_MIN * 1.03 ** np.arange(int(np.log(max(p_max, P_MIN) / P_MIN) / np.log(1.03)) + 1))
    scored = sorted(((_sync(_fold(res, p), key, peaks=1)[0][0], p) for p in coarse + _period_candidates(res)),
                    reverse=True)
    starts: list[float] = []
    for _, p in scored:
        if all(abs(p / q - 1) > 0.04 for q in starts):
            starts.append(p)
        if len(starts) >= PERIOD_TRIES:
            break
    for p0 in starts:
        scored = []
        for p in p0 * (1 + np.arange(-8, 9) * 0.0025):
            tile = _fold(res, p)
            z, dy, dx = _sync(tile, key, peaks=1)[0]
            scored.append((z, p))
        z, p = max(scored)
        tile = _fold(res, p)
        for z, dy, dx in _sync(tile, key, peaks=2):
            if z > best.z and best.payload is None:
                best = Reading(None, float(z), float(p), 0.0, None)
            if z < Z_MIN:
                continue
            payload, conf, hard = _decode(_chips(tile, dy, dx), lay)
            if best.coded_bits is None or (payload is not None and best.payload is None):
                best = Reading(payload, float(z), float(p), conf, hard)
            if payload is not None:
                return best
    return best


def read(frames: np.ndarray, key: bytes) -> int | None:
    """The 64-bit payload carried by frames (T,H,W,3) or a still (H,W,3), or None."""
    return read_detail(frames, key).payload


def coded_bits(payload, key: bytes) -> np.ndarray:
    return _encode(_message(_payload_int(payload), layout(bytes(key))))


# --- convolutional code (as in provenance/watermark.py) ---------------------------------------

def _parity(values: np.ndarray) -> np.ndarray:
    return np.array([int(x).bit_count() & 1 for x in values.ravel()], dtype=np.uint8).reshape(values.shape)


@lru_cache(maxsize=1)
def _trellis():
    states = 1 << (_CONSTRAINT - 1)
    next_state = np.arange(states)
    bit = next_state >> (_CONSTRAINT - 2)
    previous = np.stack([((next_state & (states // 2 - 1)) << 1) | x for x in (0, 1)], axis=1)
    registers = (bit[:, None] << (_CONSTRAINT - 1)) | previous
    outputs = np.stack([_parity(registers & g) for g in _GENERATORS], axis=-1)
    return previous, 1.0 - 2.0 * outputs.astype(np.float32), bit


def _encode(message: np.ndarray) -> np.ndarray:
    state, out = 0, []
    for bit in np.concatenate([message, np.zeros(_CONSTRAINT - 1, dtype=np.uint8)]):
        register = (int(bit) << (_CONSTRAINT - 1)) | state
        out.extend((register & g).bit_count() & 1 for g in _GENERATORS)
        state = register >> 1
    return np.array(out, dtype=np.uint8)


def _viterbi(soft: np.ndarray) -> np.ndarray:
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


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
