"""The invisible, keyed watermark that carries an output's 32-bit watermark id.

It is the durable layer of Bespoke's provenance marking: the C2PA manifest can be
stripped from a file, this mark survives re-encoding, rescaling, cropping, cutting the
clip and taking a single frame as a PNG or JPEG still.

Two versions exist:
- version 2 (provenance.watermark_tile, `tile-ss.1`: a keyed spread-spectrum tile with a
  24-bit HMAC tag) survives crops, JPEG and rescaling of a still, single frames and cuts;
  on moving clips it loses some re-encoded copies.
- version 1 (provenance.watermark_dct, `dct-stdm.1`) survives re-encoding (H.264 CRF 28
  in every benchmark run), downscaling, cutting and single frames, but not a crop.
A still carries version 2. A clip carries both, as two layers sharing one invisibility
budget (the tile at 42.3 dB, then version 1 at 44.5 dB on top of it, since its lattice
must see the tile; each frame held to PSNR_FLOOR_DB and rounded once): what one layer
loses the other keeps (bench/run.py watermark). Clips published before that carry
version 1 alone. The reader tries version 2, then version 1, in one pass over the frames.

This module is the stable interface for callers: it checks input, embeds, reads frames,
and reads files (video or still) as a stream, one decoded frame in memory at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from provenance import watermark_dct, watermark_tile
from provenance.watermark_still import StillError, is_still, still_read

TILE_ALGORITHM = watermark_tile.ALGORITHM
DCT_ALGORITHM = watermark_dct.ALGORITHM
VERSIONS = {DCT_ALGORITHM: 1, TILE_ALGORITHM: 2}
PAYLOAD_BITS = 32
MIN_SIDE = max(watermark_tile.MIN_SIDE, watermark_dct.MIN_SIDE)  # smallest frame side the mark is embedded into
MIN_READ_SIDE = 48  # below this there is no usable signal left to read
MAX_SOURCE_SIDE = 8192  # larger frames are refused rather than decoded
MAX_STILL_PIXELS = 64_000_000  # larger stills are refused rather than decoded
PSNR_FLOOR_DB = 40.1  # no frame's change goes beyond this (rounding to uint8 costs about 0.05 dB)
# Each version's marking function and its target PSNR alone and as one of a clip's layers,
# in embedding order: version 1's lattice must be placed last, on top of the tile.
_LAYERS = {
    TILE_ALGORITHM: (watermark_tile.tile_mark, watermark_tile.TARGET_PSNR_DB, watermark_tile.LAYERED_PSNR_DB),
    DCT_ALGORITHM: (watermark_dct.dct_mark, watermark_dct.TARGET_PSNR_DB, watermark_dct.LAYERED_PSNR_DB),
}


class WatermarkError(ValueError):
    """Bad input to the watermark (frames, id, key) or a file that cannot be decoded."""


@dataclass(frozen=True)
class WatermarkReading:
    watermark_id: int
    confidence: float  # agreement of the soft values with the decoded codeword, 0..1 (per version)
    frames_used: int
    algorithm: str = TILE_ALGORITHM  # which version's mark was read


CLIP_ALGORITHMS = (TILE_ALGORITHM, DCT_ALGORITHM)  # in the order they are embedded
STILL_ALGORITHMS = (TILE_ALGORITHM,)


def embedding_algorithms(frame_count: int) -> tuple[str, ...]:
    """The versions a still (one frame) or a clip is marked with, in the order they are embedded."""
    return STILL_ALGORITHMS if frame_count == 1 else CLIP_ALGORITHMS


def watermark_embed(frames: np.ndarray, watermark_id: int, *, key: bytes,
                    algorithms: Sequence[str] | None = None) -> np.ndarray:
    """Return a copy of ``frames`` (T, H, W, 3 uint8 RGB) carrying ``watermark_id`` in every frame,
    with the versions ``algorithms`` (by default `embedding_algorithms` for their count)."""
    _check_frames(frames, min_side=MIN_SIDE)
    watermark_id, key = _check_id(watermark_id), _check_key(key)
    wanted = embedding_algorithms(len(frames)) if algorithms is None else tuple(algorithms)
    if not wanted:
        raise WatermarkError("at least one watermark algorithm is needed")
    unknown = sorted(set(wanted) - set(_LAYERS))
    if unknown:
        raise WatermarkError(f"unknown watermark algorithms {unknown!r}")
    layered = len(set(wanted)) > 1
    original = frames.astype(np.float32)
    marked = original
    for algorithm, (mark, alone_db, layered_db) in _LAYERS.items():
        if algorithm in wanted:
            marked = mark(marked, watermark_id, key=key, target_psnr_db=layered_db if layered else alone_db)
    return _within_psnr_floor(original, marked)


def watermark_tile_removed(frames: np.ndarray, watermark_id: int, *, key: bytes) -> np.ndarray:
    """A copy of ``frames`` (T, H, W, 3 uint8 RGB, as marked) without version 2's tile of ``watermark_id``.

    For a still made from a marked frame at another size (a thumbnail): its own tile is
    embedded at the new size, and the frame's tile, scaled to another period, would blur
    the reading of it. Version 1's layer, which does not depend on the size, stays.
    """
    _check_frames(frames, min_side=MIN_SIDE)
    unmarked = watermark_tile.tile_unmark(frames, _check_id(watermark_id), key=_check_key(key))
    return np.rint(np.clip(unmarked, 0, 255)).astype(np.uint8)


def watermark_read(frames: np.ndarray, *, key: bytes) -> WatermarkReading | None:
    """The watermark id carried by ``frames`` (T, H, W, 3 uint8 RGB), or None if there is none."""
    _check_frames(frames, min_side=MIN_READ_SIDE)
    reader = _Reader(_check_key(key))
    for frame in frames:
        reader.add(frame)
    return reader.reading()


def watermark_read_file(path: Path, *, key: bytes, max_frames: int = 64) -> WatermarkReading | None:
    """Read the watermark of a video file (up to ``max_frames`` frames) or a PNG/JPEG still.

    Frames are scaled to the reader's size as they are decoded and folded into running
    sums one by one, so memory stays at about one frame whatever the file claims to hold.
    Raises WatermarkError if the file cannot be opened or decoded, or its frames are
    larger than MAX_SOURCE_SIDE.
    """
    key = _check_key(key)
    if max_frames < 1:
        raise WatermarkError("max_frames must be at least 1")
    path = Path(path)
    reader = _Reader(key)
    if is_still(path):
        try:
            frame, _ = still_read(path, max_side=MAX_SOURCE_SIDE, max_pixels=MAX_STILL_PIXELS)
        except StillError as exc:
            raise WatermarkError(str(exc)) from exc
        if min(frame.shape[:2]) < MIN_READ_SIDE:
            return None
        reader.add(frame)
        return reader.reading()
    _read_video(path, reader, max_frames)
    return reader.reading()


def watermark_bit_accuracy(frames: np.ndarray, watermark_id: int, *, key: bytes) -> float:
    """Fraction of the coded bits ``frames`` carry that read as those of ``watermark_id`` (version 2).

    Measured before error correction, so it shows how much margin a reading had; 0.5 when
    the tile could not even be found.
    """
    _check_frames(frames, min_side=MIN_READ_SIDE)
    key = _check_key(key)
    residual = watermark_tile.TileResidual()
    for frame in frames:
        residual.add(frame)
    mean = residual.mean()
    decoded = watermark_tile.tile_read(mean, key=key) if mean is not None else None
    if decoded is None or decoded.coded_bits is None:
        return 0.5
    truth = watermark_tile.tile_coded_bits(_check_id(watermark_id), key=key)
    return float(np.mean(decoded.coded_bits == truth))


def _within_psnr_floor(original: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """``marked`` as uint8, each frame's change scaled down where it would fall below PSNR_FLOOR_DB.

    The layers' targets hold on average; texture masks, version 1's lattice corrections and
    clipping move single frames around them (as low as 39.7 dB on busy content), so the
    floor is enforced frame by frame on the sum, before the one rounding.
    """
    change = marked - original
    mse = np.mean(np.square(change), axis=(1, 2, 3))
    allowed = (255.0 / 10 ** (PSNR_FLOOR_DB / 20)) ** 2
    scale = np.minimum(1.0, np.sqrt(allowed / np.maximum(mse, 1e-12))).astype(np.float32)
    return np.rint(np.clip(original + change * scale[:, None, None, None], 0, 255)).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 arrays of the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


class _Reader:
    """Both versions' running state over frames: version 2's mean residual, version 1's projections."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._residual = watermark_tile.TileResidual()
        self._projections: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> None:
        width, height = watermark_tile.reader_size(*frame.shape[:2])
        if (width, height) != (frame.shape[1], frame.shape[0]):
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        self._residual.add(frame)
        self._projections.append(watermark_dct.dct_projections(frame, key=self._key))

    def reading(self) -> WatermarkReading | None:
        count = len(self._projections)
        mean = self._residual.mean()
        if mean is None:
            return None
        decoded = watermark_tile.tile_read(mean, key=self._key)
        if decoded.watermark_id is not None:
            return WatermarkReading(watermark_id=decoded.watermark_id, confidence=round(decoded.confidence, 4),
                                    frames_used=count)
        legacy = watermark_dct.dct_read(np.stack(self._projections), key=self._key)
        if legacy is None:
            return None
        return WatermarkReading(watermark_id=legacy[0], confidence=round(legacy[1], 4), frames_used=count,
                                algorithm=DCT_ALGORITHM)


def _read_video(path: Path, reader: _Reader, max_frames: int) -> None:
    import av

    name = path.name
    frames = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise WatermarkError(f"{name}: no video stream")
            context = container.streams.video[0].codec_context
            if max(context.width, context.height) > MAX_SOURCE_SIDE:
                raise WatermarkError(f"{name}: frames larger than {MAX_SOURCE_SIDE} pixels are not read")
            if min(context.width, context.height) < 1:
                raise WatermarkError(f"{name}: the video stream declares no frame size")
            width, height = watermark_tile.reader_size(context.height, context.width)
            if min(width, height) < MIN_READ_SIDE:
                return
            for frame in container.decode(video=0):
                reader.add(frame.reformat(width=width, height=height, format="rgb24").to_ndarray())
                frames += 1
                if frames >= max_frames:
                    break
    except (av.FFmpegError, OSError, ValueError) as exc:
        if isinstance(exc, WatermarkError):
            raise
        raise WatermarkError(f"{name}: cannot decode video ({exc})") from exc
    if not frames:
        raise WatermarkError(f"{name}: no decodable video frames")


def _check_id(watermark_id: int) -> int:
    if isinstance(watermark_id, bool) or not isinstance(watermark_id, (int, np.integer)) \
            or not 0 <= int(watermark_id) < 2**PAYLOAD_BITS:
        raise WatermarkError(f"watermark id must be an integer in [0, 2**{PAYLOAD_BITS}), got {watermark_id!r}")
    return int(watermark_id)


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
