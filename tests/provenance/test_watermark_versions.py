"""A clip carries both watermark versions as two layers (version 2's tile, then version 1),
a still version 2 alone, and each manifest names every layer it carries. Each layer of a
clip reads on its own, so a crop (which version 1 loses) is traced by the tile; clips
published with version 1 alone keep tracing; every frame stays at 40 dB or more, and a
smooth gradient is left alone."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.pipeline.video import decode_mp4, encode_mp4
from provenance import services as provenance
from provenance import watermark_dct, watermark_tile
from provenance.watermark import (
    DCT_ALGORITHM,
    TILE_ALGORITHM,
    WatermarkError,
    embedding_algorithms,
    psnr,
    watermark_embed,
    watermark_read,
    watermark_read_file,
    watermark_tile_removed,
)
from tests.provenance.test_watermark import KEY, _textured_clip

LEGACY_ID = 0x1234ABCD
CLIP_ID = 0x0BADC0DE


def _version_1_alone(frames: np.ndarray, watermark_id: int = LEGACY_ID) -> np.ndarray:
    return watermark_embed(frames, watermark_id, key=KEY, algorithms=(DCT_ALGORITHM,))


@pytest.fixture(scope="module")
def legacy() -> np.ndarray:
    return _version_1_alone(_textured_clip(7))


@pytest.fixture(scope="module")
def layered() -> tuple[np.ndarray, np.ndarray]:
    clip = _textured_clip(9)
    return clip, watermark_embed(clip, CLIP_ID, key=KEY)


def _tile_reading(frames: np.ndarray) -> int | None:
    residual = watermark_tile.TileResidual()
    for frame in frames:
        residual.add(frame)
    return watermark_tile.tile_read(residual.mean(), key=KEY).watermark_id


def _version_1_reading(frames: np.ndarray) -> int | None:
    reading = watermark_dct.dct_read(np.stack([watermark_dct.dct_projections(f, key=KEY) for f in frames]), key=KEY)
    return reading[0] if reading else None


def test_a_clip_is_marked_with_both_layers_and_a_still_with_version_2():
    assert embedding_algorithms(16) == (TILE_ALGORITHM, DCT_ALGORITHM)
    assert embedding_algorithms(1) == (TILE_ALGORITHM,)


def test_each_layer_of_a_clip_carries_the_id_on_its_own(layered):
    _, marked = layered

    assert _tile_reading(marked) == CLIP_ID
    assert _version_1_reading(marked) == CLIP_ID
    reading = watermark_read(marked, key=KEY)
    assert reading is not None and reading.watermark_id == CLIP_ID and reading.algorithm == TILE_ALGORITHM


def test_a_cropped_copy_of_a_clip_is_traced_by_its_tile(tmp_path: Path, layered):
    _, marked = layered
    height, width = marked.shape[1:3]
    cropped = marked[:, 20:20 + int(height * 0.8) // 2 * 2, 6:6 + int(width * 0.8) // 2 * 2]
    path = tmp_path / "cropped.mp4"
    encode_mp4(cropped, path, fps=8, crf=23)

    assert _version_1_reading(decode_mp4(path)) is None  # what a clip marked with version 1 alone lost
    reading = watermark_read_file(path, key=KEY)
    assert reading is not None and reading.watermark_id == CLIP_ID and reading.algorithm == TILE_ALGORITHM


def test_without_its_tile_a_clip_is_still_traced_by_version_1(layered):
    """What the tile loses (re-encoded moving copies, bench/run.py watermark), version 1 keeps:
    with the tile's pattern cancelled out, the layered clip still reads, as version 1."""
    clip, marked = layered
    tile_only = watermark_embed(clip, CLIP_ID, key=KEY, algorithms=(TILE_ALGORITHM,)).astype(np.int16)
    # The layered clip minus the tile's own change: version 1's layer alone, give or take rounding.
    without_tile = np.clip(marked.astype(np.int16) - (tile_only - clip), 0, 255).astype(np.uint8)

    assert _tile_reading(without_tile) is None
    reading = watermark_read(without_tile, key=KEY)
    assert reading is not None and reading.watermark_id == CLIP_ID and reading.algorithm == DCT_ALGORITHM


def test_taking_the_tile_out_of_a_frame_leaves_version_1_and_room_for_a_tile_at_another_size(layered):
    """A thumbnail is re-marked at its size: the frame's own tile, scaled to another period,
    would compete with the new one, so it is taken out first."""
    _, marked = layered
    frame = marked[:1]

    without = watermark_tile_removed(frame, CLIP_ID, key=KEY)
    assert _tile_reading(without) is None and _version_1_reading(without) == CLIP_ID
    assert psnr(frame, without) >= 40.0

    smaller = np.asarray(Image.fromarray(without[0]).resize((213, 213), Image.Resampling.LANCZOS))[None]
    remarked = watermark_embed(smaller, CLIP_ID, key=KEY)
    assert _tile_reading(remarked) == CLIP_ID


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


def test_the_binding_names_every_layer_a_clip_or_a_still_carries(settings):
    frames = _textured_clip(8, frames=4)
    settings.BESPOKE_WATERMARK_KEY = KEY

    marked, binding = provenance.watermark_apply(frames, watermark_id=77, fps=8)
    assert binding.algorithms == (TILE_ALGORITHM, DCT_ALGORITHM) \
        == ("com.bespoke.watermark.tile-ss.1", "com.bespoke.watermark.dct-stdm.1")
    assert binding.versions == ("2", "1")
    assert _tile_reading(marked) == 77 and _version_1_reading(marked) == 77

    marked, binding = provenance.watermark_apply(frames[:1], watermark_id=78, fps=8)
    assert (binding.algorithms, binding.versions) == ((TILE_ALGORITHM,), ("2",))
    reading = watermark_read(marked, key=KEY)
    assert reading is not None and reading.watermark_id == 78 and reading.algorithm == TILE_ALGORITHM


@pytest.mark.parametrize("algorithms", [None, (DCT_ALGORITHM,)], ids=["both layers", "version 1 alone"])
def test_no_frame_of_a_clip_falls_below_40_db(algorithms):
    """Busy frames used to dip to 39.7 dB: each frame's change (both layers together) is held to the floor."""
    noise = np.random.default_rng(5).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    for frames in (_textured_clip(7), noise):
        marked = watermark_embed(frames, LEGACY_ID, key=KEY, algorithms=algorithms)
        assert min(psnr(frame, copy) for frame, copy in zip(frames, marked)) >= 40.0
        assert watermark_read(marked, key=KEY).watermark_id == LEGACY_ID


def test_a_smooth_gradient_clip_is_left_alone():
    """Version 1's lattice would show on a clean gradient as a low-frequency mottle (40.5 dB,
    up to 11 code values): a smooth frame gets none of it, and the tile next to nothing."""
    y, x = np.mgrid[0:256, 0:256].astype(np.float32)
    gradient = np.stack([60 + 120 * x / 256, 90 + 80 * y / 256, 200 - 100 * (x + y) / 512], axis=-1)
    frames = np.repeat(gradient.round().astype(np.uint8)[None], 3, axis=0)

    marked = watermark_embed(frames, CLIP_ID, key=KEY)

    assert min(psnr(frame, copy) for frame, copy in zip(frames, marked)) >= 48.0
    assert np.abs(marked.astype(int) - frames).max() <= 2


@pytest.mark.parametrize(("algorithms", "message"), [
    (("com.example.other",), "unknown watermark algorithm"),
    ((TILE_ALGORITHM, "com.example.other"), "unknown watermark algorithm"),
    ((), "at least one watermark algorithm"),
])
def test_an_unknown_or_missing_algorithm_is_refused(algorithms, message):
    with pytest.raises(WatermarkError, match=message):
        watermark_embed(_textured_clip(3, frames=2), 1, key=KEY, algorithms=algorithms)
