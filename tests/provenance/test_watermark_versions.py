"""Both watermark versions trace: the reader tries version 2 (`tile-ss.1`) and then version 1
(`dct-stdm.1`), from frames, a published MP4 and a still; a clip is marked with version 1 (it
keeps re-encoded copies), a still with version 2 (it keeps crops), and each manifest names the
one it carries."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.pipeline.video import encode_mp4
from provenance import services as provenance
from provenance.watermark import (
    DCT_ALGORITHM,
    TILE_ALGORITHM,
    psnr,
    watermark_read,
    watermark_read_file,
)
from provenance.watermark_dct import dct_embed
from tests.provenance.test_watermark import KEY, _textured_clip

LEGACY_ID = 0x1234ABCD


@pytest.fixture(scope="module")
def legacy() -> np.ndarray:
    return dct_embed(_textured_clip(7), LEGACY_ID, key=KEY)


def test_version_1_frames_read_as_version_1(legacy):
    reading = watermark_read(legacy, key=KEY)

    assert reading is not None and reading.watermark_id == LEGACY_ID
    assert reading.algorithm == DCT_ALGORITHM == "com.bespoke.watermark.dct-stdm.1"


def test_a_published_version_1_clip_and_still_read_back(tmp_path: Path, legacy):
    clip = tmp_path / "legacy.mp4"
    encode_mp4(legacy, clip, fps=8, crf=18)
    still = tmp_path / "legacy.png"
    Image.fromarray(legacy[0]).save(still)

    for path in (clip, still):
        reading = watermark_read_file(path, key=KEY)
        assert reading is not None and reading.watermark_id == LEGACY_ID and reading.algorithm == DCT_ALGORITHM
    assert watermark_read_file(clip, key=b"some-other-key-0123456789") is None


def test_a_clip_is_bound_to_version_1_and_a_still_to_version_2(settings):
    frames = _textured_clip(8, frames=4)
    settings.BESPOKE_WATERMARK_KEY = KEY

    marked, binding = provenance.watermark_apply(frames, watermark_id=77, fps=8)
    assert (binding.algorithm, binding.version) == (DCT_ALGORITHM, "1") == ("com.bespoke.watermark.dct-stdm.1", "1")
    reading = watermark_read(marked, key=KEY)
    assert reading is not None and reading.watermark_id == 77 and reading.algorithm == DCT_ALGORITHM

    marked, binding = provenance.watermark_apply(frames[:1], watermark_id=78, fps=8)
    assert (binding.algorithm, binding.version) == (TILE_ALGORITHM, "2") == ("com.bespoke.watermark.tile-ss.1", "2")
    reading = watermark_read(marked, key=KEY)
    assert reading is not None and reading.watermark_id == 78 and reading.algorithm == TILE_ALGORITHM


def test_no_frame_of_a_version_1_clip_falls_below_40_db():
    """Busy frames used to dip to 39.7 dB: each frame's change is held to the floor."""
    noise = np.random.default_rng(5).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    for frames in (_textured_clip(7), noise):
        marked = dct_embed(frames, LEGACY_ID, key=KEY)
        assert min(psnr(frame, copy) for frame, copy in zip(frames, marked)) >= 40.0
        assert watermark_read(marked, key=KEY).watermark_id == LEGACY_ID
