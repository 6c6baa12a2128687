"""The invisible watermark (version 2, the keyed tile) survives what a copy goes through:
publishing, halving, cutting, cropping (centred or not), brightness and contrast changes,
and a single frame saved as a PNG or JPEG; a wrong key or unmarked media read as nothing;
bad input is refused clearly. (Re-encoding at low quality is measured by bench/watermark.py.)"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.pipeline.video import decode_mp4, encode_mp4
from provenance.labels import burn_disclosure
from provenance.watermark import (
    MAX_SOURCE_SIDE,
    MIN_SIDE,
    PAYLOAD_BITS,
    TILE_ALGORITHM,
    WatermarkError,
    psnr,
    watermark_bit_accuracy,
    watermark_embed,
    watermark_read,
    watermark_read_file,
)

KEY = b"test-watermark-key-0123456789"
WATERMARK_ID = 0xC0FFEE42


def tile_embed(frames: np.ndarray, watermark_id: int, *, key: bytes) -> np.ndarray:
    """Version 2 (what stills carry), whatever the number of frames: its properties are what this file tests."""
    return watermark_embed(frames, watermark_id, key=key, algorithms=(TILE_ALGORITHM,))


def _textured_clip(seed: int, *, frames: int = 16, height: int = 256, width: int = 256) -> np.ndarray:
    """A labelled clip of colour texture (broad shapes and finer detail) panning across the frame, plus grain."""
    rng = np.random.default_rng(seed)
    margin = 48
    texture = np.zeros((height + margin, width + margin, 3), np.float32)
    for scale, weight in ((32, 1.0), (8, 0.3)):
        cells = rng.normal(0, 1, ((height + margin) // scale + 2, (width + margin) // scale + 2, 3))
        layer = np.stack([np.asarray(Image.fromarray(cells[..., c].astype(np.float32)).resize(
            (cells.shape[1] * scale, cells.shape[0] * scale), Image.BICUBIC)) for c in range(3)], axis=-1)
        texture += weight * layer[:height + margin, :width + margin]
    texture = 128 + 40 * texture / texture.std()
    clip = np.stack([texture[2 * t:2 * t + height, 3 * t:3 * t + width] for t in range(frames)])
    clip = np.clip(clip + rng.normal(0, 1.5, clip.shape[:3])[..., None], 0, 255)
    labelled, _ = burn_disclosure(clip.round().astype(np.uint8))
    return labelled


def _publish(frames: np.ndarray, path: Path, *, crf: int = 18) -> Path:
    encode_mp4(frames, path, fps=8, crf=crf)
    return path


def _save_still(frame: np.ndarray, path: Path, **options: int) -> Path:
    Image.fromarray(frame).save(path, **options)
    return path


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return _textured_clip(1)


@pytest.fixture(scope="module")
def marked(clip: np.ndarray) -> np.ndarray:
    return tile_embed(clip, WATERMARK_ID, key=KEY)


@pytest.fixture
def published(tmp_path, marked) -> np.ndarray:
    return decode_mp4(_publish(marked, tmp_path / "out.mp4"))


def test_embedding_is_invisible_by_psnr_and_leaves_the_input_alone(clip, marked):
    original = clip.copy()
    again = tile_embed(clip, WATERMARK_ID, key=KEY)

    assert marked.shape == clip.shape and marked.dtype == np.uint8
    np.testing.assert_array_equal(clip, original)
    np.testing.assert_array_equal(again, marked)
    assert psnr(clip, marked) >= 40.0
    assert (marked != clip).mean() > 0.5


def test_a_flat_gradient_is_barely_touched():
    y, x = np.mgrid[0:256, 0:256].astype(np.float32)
    gradient = np.stack([60 + 120 * x / 256, 90 + 80 * y / 256, 200 - 50 * (x + y) / 256], axis=-1)
    frame = gradient.round().astype(np.uint8)[None]

    marked = tile_embed(frame, WATERMARK_ID, key=KEY)

    assert psnr(frame, marked) >= 48.0
    assert np.abs(marked.astype(int) - frame).max() <= 2


@pytest.mark.parametrize("size", [(256, 256), (240, 320)])
def test_round_trip_through_the_published_mp4(tmp_path, size):
    clip = _textured_clip(2, height=size[0], width=size[1])
    path = _publish(tile_embed(clip, WATERMARK_ID, key=KEY), tmp_path / "out.mp4")

    reading = watermark_read_file(path, key=KEY)

    assert reading is not None
    assert reading.watermark_id == WATERMARK_ID and reading.algorithm == TILE_ALGORITHM
    assert reading.frames_used == 16
    assert 0.3 <= reading.confidence <= 1.0


def _half_size(frames: np.ndarray, tmp_path: Path) -> np.ndarray:
    height, width = frames.shape[1:3]
    half = np.stack([np.asarray(Image.fromarray(f).resize((width // 2, height // 2), Image.LANCZOS)) for f in frames])
    return decode_mp4(_publish(half, tmp_path / "half.mp4"))


def _middle_half(frames: np.ndarray, tmp_path: Path) -> np.ndarray:
    count = len(frames)
    return decode_mp4(_publish(frames[count // 4:count // 4 + count // 2], tmp_path / "cut.mp4"))


def _crop(top: float, left: float):  # type: ignore[no-untyped-def]
    """Remove 20% of the height and the width, keeping the window at (top, left) of the slack."""
    def attack(frames: np.ndarray, tmp_path: Path) -> np.ndarray:
        height, width = frames.shape[1:3]
        keep_h, keep_w = int(height * 0.8) // 2 * 2, int(width * 0.8) // 2 * 2
        y0, x0 = int((height - keep_h) * top), int((width - keep_w) * left)
        return decode_mp4(_publish(frames[:, y0:y0 + keep_h, x0:x0 + keep_w], tmp_path / "crop.mp4"))
    return attack


def _affine(gain: float, offset: float):  # type: ignore[no-untyped-def]
    def attack(frames: np.ndarray, tmp_path: Path) -> np.ndarray:
        changed = np.clip((frames.astype(np.float32) - 128) * gain + 128 + offset, 0, 255).round().astype(np.uint8)
        return decode_mp4(_publish(changed, tmp_path / "affine.mp4"))
    return attack


@pytest.mark.parametrize("attack", [
    _half_size, _middle_half, _crop(0.5, 0.5), _crop(0.1, 0.85), _affine(1.0, 25.5),
    _affine(1.0, -25.5), _affine(1.1, 0.0), _affine(0.9, 0.0),
], ids=["half", "cut", "crop-centred", "crop-off-centre", "brighter", "darker", "more-contrast",
        "less-contrast"])
def test_survives_attacks_on_the_published_file(tmp_path, published, attack):
    attacked = attack(published, tmp_path)

    reading = watermark_read(attacked, key=KEY)

    assert reading is not None and reading.watermark_id == WATERMARK_ID
    assert reading.frames_used == len(attacked)
    assert watermark_bit_accuracy(attacked, WATERMARK_ID, key=KEY) > 0.75


@pytest.mark.parametrize(("name", "options"), [("frame.png", {}), ("frame.jpg", {"quality": 75})])
def test_a_single_frame_saved_as_a_still_reads_back(tmp_path, published, name, options):
    still = _save_still(published[5], tmp_path / name, **options)

    reading = watermark_read_file(still, key=KEY)

    assert reading is not None and reading.watermark_id == WATERMARK_ID
    assert reading.frames_used == 1


def test_one_frame_is_enough(marked):
    reading = watermark_read(marked[3:4], key=KEY)
    assert reading is not None and reading.watermark_id == WATERMARK_ID and reading.frames_used == 1


def test_the_smallest_frame_carries_the_mark():
    small = _textured_clip(4, frames=1, height=MIN_SIDE, width=MIN_SIDE)

    reading = watermark_read(tile_embed(small, WATERMARK_ID, key=KEY), key=KEY)

    assert MIN_SIDE == 128
    assert reading is not None and reading.watermark_id == WATERMARK_ID


def test_different_ids_read_back_as_themselves(clip):
    for watermark_id in (0, 1, 2**PAYLOAD_BITS - 1):
        reading = watermark_read(tile_embed(clip[:4], watermark_id, key=KEY), key=KEY)
        assert reading is not None and reading.watermark_id == watermark_id


def test_unwatermarked_media_reads_none(tmp_path, clip):
    assert watermark_read_file(_publish(clip, tmp_path / "plain.mp4"), key=KEY) is None
    assert watermark_read_file(_save_still(clip[0], tmp_path / "plain.png"), key=KEY) is None
    assert watermark_read(_textured_clip(3), key=KEY) is None


def test_a_different_key_reads_none(tmp_path, marked):
    path = _publish(marked, tmp_path / "out.mp4")
    still = _save_still(marked[0], tmp_path / "frame.png")
    other = b"some-other-key-0123456789"

    assert watermark_read_file(path, key=other) is None
    assert watermark_read_file(still, key=other) is None
    assert watermark_read(marked[:1], key=other) is None
    assert watermark_read_file(path, key=KEY) is not None


@pytest.mark.parametrize(("frames", "watermark_id", "key", "message"), [
    (np.zeros((4, 256, 256, 3), dtype=np.float32), 1, KEY, "uint8"),
    (np.zeros((256, 256, 3), dtype=np.uint8), 1, KEY, "shape"),
    (np.zeros((4, 256, 256), dtype=np.uint8), 1, KEY, "shape"),
    (np.zeros((0, 256, 256, 3), dtype=np.uint8), 1, KEY, "at least one frame"),
    (np.zeros((4, 120, 256, 3), dtype=np.uint8), 1, KEY, "at least 128x128"),
    (np.zeros((4, 256, 256, 3), dtype=np.uint8), -1, KEY, "watermark id"),
    (np.zeros((4, 256, 256, 3), dtype=np.uint8), 2**PAYLOAD_BITS, KEY, "watermark id"),
    (np.zeros((4, 256, 256, 3), dtype=np.uint8), "7", KEY, "watermark id"),
    (np.zeros((4, 256, 256, 3), dtype=np.uint8), 1, b"short", "key"),
    (np.zeros((4, 256, 256, 3), dtype=np.uint8), 1, "a-text-key-not-bytes", "key"),
])
def test_bad_input_is_refused_clearly(frames, watermark_id, key, message):
    with pytest.raises(WatermarkError, match=message):
        tile_embed(frames, watermark_id, key=key)


def test_a_file_that_is_not_a_video_or_image_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 100)

    with pytest.raises(WatermarkError, match="junk.mp4"):
        watermark_read_file(junk, key=KEY)
    with pytest.raises(WatermarkError, match="fake.png"):
        watermark_read_file(fake, key=KEY)
    with pytest.raises(WatermarkError, match="missing.mp4"):
        watermark_read_file(tmp_path / "missing.mp4", key=KEY)
    assert issubclass(WatermarkError, ValueError)


def test_a_still_larger_than_the_source_limit_is_refused_before_decoding(tmp_path):
    wide = _save_still(np.zeros((8, MAX_SOURCE_SIDE + 8, 3), np.uint8), tmp_path / "wide.png")
    with pytest.raises(WatermarkError, match=f"larger than {MAX_SOURCE_SIDE}"):
        watermark_read_file(wide, key=KEY)


def test_a_large_video_is_read_scaled_down_as_it_is_decoded(tmp_path):
    hd = tile_embed(_textured_clip(5, frames=4, height=720, width=1280), WATERMARK_ID, key=KEY)
    reading = watermark_read_file(_publish(hd, tmp_path / "hd.mp4"), key=KEY)
    assert reading is not None and reading.watermark_id == WATERMARK_ID
    assert watermark_read_file(_publish(np.zeros((2, 720, 1280, 3), np.uint8), tmp_path / "plain.mp4"), key=KEY) is None
