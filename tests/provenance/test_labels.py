import numpy as np
import pytest

from provenance.labels import DISCLOSURE_TEXT, burn_disclosure

NEAR_WHITE = 230


def _gradient_frames(count: int, height: int, width: int) -> np.ndarray:
    """Frames that differ from each other and never contain near-white pixels."""
    rows = np.linspace(40, 200, height, dtype=np.uint8)[None, :, None, None]
    offsets = np.arange(count, dtype=np.uint8)[:, None, None, None] * 3
    return np.broadcast_to(rows + offsets, (count, height, width, 3)).copy()


def _near_white(pixels: np.ndarray) -> np.ndarray:
    return (pixels >= NEAR_WHITE).all(axis=-1)


def _text_rows(band: np.ndarray) -> int:
    """Number of band rows that contain near-white pixels."""
    return int(_near_white(band).any(axis=-1).sum())


def test_every_frame_gets_the_band_and_the_rest_is_untouched():
    frames = _gradient_frames(8, 64, 64)
    original = frames.copy()

    labelled, spec = burn_disclosure(frames)

    band_top = 64 - spec.band_height_px
    assert labelled.shape == frames.shape and labelled.dtype == np.uint8
    np.testing.assert_array_equal(frames, original)
    np.testing.assert_array_equal(labelled[:, :band_top], frames[:, :band_top])
    for before, after in zip(frames, labelled, strict=True):
        band = after[band_top:]
        assert (band != before[band_top:]).any(axis=-1).mean() > 0.9
        assert _near_white(band).sum() >= 20


def test_band_darkens_footage_so_white_text_stands_out():
    frames = np.full((1, 64, 64, 3), 255, dtype=np.uint8)

    labelled, spec = burn_disclosure(frames)

    band = labelled[0, 64 - spec.band_height_px :]
    assert np.median(band) < 128
    assert _near_white(band).any()


def _burned_rows(original: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Indices of the rows of one frame that the label changed."""
    return np.flatnonzero((labelled != original).any(axis=(-1, -2)))


@pytest.mark.parametrize("height, width", [(64, 64), (128, 128), (240, 320), (720, 1280), (1080, 1920)])
@pytest.mark.parametrize("grey", [255, 128])  # on black footage only the text would show
def test_spec_reports_the_band_as_burned_into_the_pixels(height, width, grey):
    frames = np.full((1, height, width, 3), grey, dtype=np.uint8)

    labelled, spec = burn_disclosure(frames, text="Synthetic")

    burned = _burned_rows(frames[0], labelled[0])
    band = len(burned)
    assert band > 0 and np.array_equal(burned, np.arange(height - band, height)), "one band, flush with the bottom"
    assert spec.as_dict() == {"text": "Synthetic", "placement": "bottom-left band", "band_height_px": band}
    assert DISCLOSURE_TEXT == "AI-generated"


def test_text_scales_with_frame_height():
    small, small_spec = burn_disclosure(_gradient_frames(1, 64, 64))
    large, large_spec = burn_disclosure(_gradient_frames(1, 1080, 1920))

    small_rows = _text_rows(small[0, 64 - small_spec.band_height_px :])
    large_rows = _text_rows(large[0, 1080 - large_spec.band_height_px :])
    assert small_rows >= 7
    assert large_rows >= 30
    assert large_spec.band_height_px >= 5 * small_spec.band_height_px
    assert large_spec.band_height_px <= 1080 // 8


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((64, 64, 3), dtype=np.uint8), "shape"),
        (np.zeros((2, 64, 64, 4), dtype=np.uint8), "shape"),
        (np.zeros((2, 64, 64, 3), dtype=np.float32), "uint8"),
        (np.zeros((1, 64, 40, 3), dtype=np.uint8), "width"),
        (np.zeros((1, 24, 64, 3), dtype=np.uint8), "height"),
        ([[[[0, 0, 0]]]], "shape"),
    ],
)
def test_rejects_frames_it_cannot_label(frames, message):
    with pytest.raises(ValueError, match=message):
        burn_disclosure(frames)


def test_rejects_blank_text():
    with pytest.raises(ValueError, match="empty"):
        burn_disclosure(_gradient_frames(1, 64, 64), text="  ")
