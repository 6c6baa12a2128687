from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.pipeline.video import decode_mp4, encode_mp4
from provenance.labels import burn_disclosure
from provenance.watermark import (
    PAYLOAD_BITS,
    WatermarkError,
    psnr,
    watermark_bit_accuracy,
    watermark_embed,
    watermark_read,
    watermark_read_file,
)

KEY = b"test-watermark-key-0123456789"
WATERMARK_ID = 0xC0FFEE42


def _textured_clip(seed: int, *, frames: int = 16, height: int = 256, width: int = 256) -> np.ndarray:
    """A labelled clip of smooth colour texture panning across the frame, plus fine grain."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 8, width // 8 + 8, 3), dtype=np.uint8)
    texture = np.asarray(Image.fromarray(coarse).resize((coarse.shape[1] * 8, coarse.shape[0] * 8), Image.BICUBIC))
    clip = np.stack([texture[2 * t:2 * t + height, 3 * t:3 * t + width] for t in range(frames)]).astype(np.int16)
    clip += rng.normal(0, 6, clip.shape[:3])[..., None].astype(np.int16)
    labelled, _ = burn_disclosure(np.clip(clip, 0, 255).astype(np.uint8))
    return labelled


def _publish(frames: np.ndarray, path: Path, *, crf: int = 18) -> Path:
    encode_mp4(frames, path, fps=8, crf=crf)
    return path


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return _textured_clip(1)


@pytest.fixture(scope="module")
def marked(clip: np.ndarray) -> np.ndarray:
    return watermark_embed(clip, WATERMARK_ID, key=KEY)


def test_embedding_is_invisible_by_psnr_and_leaves_the_input_alone(clip, marked):
    original = clip.copy()
    again = watermark_embed(clip, WATERMARK_ID, key=KEY)

    assert marked.shape == clip.shape and marked.dtype == np.uint8
    np.testing.assert_array_equal(clip, original)
    np.testing.assert_array_equal(again, marked)
    assert psnr(clip, marked) >= 38.0
    assert (marked != clip).mean() > 0.5


@pytest.mark.parametrize("size", [(256, 256), (256, 320)])
def test_round_trip_through_the_published_mp4(tmp_path, size):
    clip = _textured_clip(2, height=size[0], width=size[1])
    path = _publish(watermark_embed(clip, WATERMARK_ID, key=KEY), tmp_path / "out.mp4")

    reading = watermark_read_file(path, key=KEY)

    assert reading is not None
    assert reading.watermark_id == WATERMARK_ID
    assert reading.frames_used == 16
    assert 0.85 <= reading.confidence <= 1.0


def _reencode_crf28(frames: np.ndarray, tmp_path: Path) -> np.ndarray:
    return decode_mp4(_publish(frames, tmp_path / "crf28.mp4", crf=28))


def _half_size(frames: np.ndarray, tmp_path: Path) -> np.ndarray:
    height, width = frames.shape[1:3]
    half = np.stack([np.asarray(Image.fromarray(f).resize((width // 2, height // 2), Image.LANCZOS)) for f in frames])
    return decode_mp4(_publish(half, tmp_path / "half.mp4"))


def _middle_half(frames: np.ndarray, tmp_path: Path) -> np.ndarray:
    count = len(frames)
    return decode_mp4(_publish(frames[count // 4:count // 4 + count // 2], tmp_path / "cut.mp4"))


@pytest.mark.parametrize("attack", [_reencode_crf28, _half_size, _middle_half], ids=["crf28", "half", "cut"])
def test_survives_attacks_on_the_published_file(tmp_path, marked, attack):
    published = decode_mp4(_publish(marked, tmp_path / "out.mp4"))
    attacked = attack(published, tmp_path)

    reading = watermark_read(attacked, key=KEY)

    assert reading is not None and reading.watermark_id == WATERMARK_ID
    assert reading.frames_used == len(attacked)
    assert watermark_bit_accuracy(attacked, WATERMARK_ID, key=KEY) > 0.9


def test_different_ids_read_back_as_themselves(clip):
    for watermark_id in (0, 1, 2**PAYLOAD_BITS - 1):
        reading = watermark_read(watermark_embed(clip[:4], watermark_id, key=KEY), key=KEY)
        assert reading is not None and reading.watermark_id == watermark_id


def test_unwatermarked_video_reads_none(tmp_path, clip):
    assert watermark_read_file(_publish(clip, tmp_path / "plain.mp4"), key=KEY) is None
    assert watermark_read(_textured_clip(3), key=KEY) is None


def test_a_different_key_reads_none(tmp_path, marked):
    path = _publish(marked, tmp_path / "out.mp4")

    assert watermark_read_file(path, key=b"some-other-key-0123456789") is None
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
        watermark_embed(frames, watermark_id, key=key)


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)

    with pytest.raises(WatermarkError, match="junk.mp4"):
        watermark_read_file(junk, key=KEY)
    with pytest.raises(WatermarkError, match="missing.mp4"):
        watermark_read_file(tmp_path / "missing.mp4", key=KEY)
    assert issubclass(WatermarkError, ValueError)


def test_a_large_video_is_read_scaled_down_as_it_is_decoded(tmp_path):
    hd = watermark_embed(_textured_clip(5, frames=4, height=720, width=1280), WATERMARK_ID, key=KEY)
    reading = watermark_read_file(_publish(hd, tmp_path / "hd.mp4"), key=KEY)
    assert reading is not None and reading.watermark_id == WATERMARK_ID
    assert watermark_read_file(_publish(np.zeros((2, 720, 1280, 3), np.uint8), tmp_path / "plain.mp4"), key=KEY) is None
