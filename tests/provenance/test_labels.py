import numpy as np
import pytest

from provenance.labels import DISCLOSURE_TEXT, ICON_TEXT, SAFE_FRACTION, burn_disclosure

NEAR_WHITE = 230


def _gradient_frames(count: int, height: int, width: int) -> np.ndarray:
    """Frames that differ from each other and never contain near-white pixels."""
    rows = np.linspace(40, 200, height, dtype=np.uint8)[None, :, None, None]
    offsets = np.arange(count, dtype=np.uint8)[:, None, None, None] * 3
    return np.broadcast_to(rows + offsets, (count, height, width, 3)).copy()


def _near_white(pixels: np.ndarray) -> np.ndarray:
    return (pixels >= NEAR_WHITE).all(axis=-1)


def _box(spec) -> tuple[slice, slice]:  # type: ignore[no-untyped-def]
    left, top, width, height = spec.box_px
    return slice(top, top + height), slice(left, left + width)


def _changed_box(original: np.ndarray, labelled: np.ndarray) -> tuple[int, int, int, int]:
    """Left, top, width, height of the pixels the label changed in one frame."""
    rows, columns = np.nonzero((labelled != original).any(axis=-1))
    return (int(columns.min()), int(rows.min()), int(columns.max() - columns.min() + 1),
            int(rows.max() - rows.min() + 1))


def test_every_frame_gets_the_badge_and_the_rest_is_untouched():
    frames = _gradient_frames(8, 256, 256)
    original = frames.copy()

    labelled, spec = burn_disclosure(frames)

    rows, columns = _box(spec)
    assert labelled.shape == frames.shape and labelled.dtype == np.uint8
    np.testing.assert_array_equal(frames, original)
    outside = np.ones(frames.shape[1:3], dtype=bool)
    outside[rows, columns] = False
    np.testing.assert_array_equal(labelled[:, outside], frames[:, outside])
    for before, after in zip(frames, labelled, strict=True):
        assert (after[rows, columns] != before[rows, columns]).any(axis=-1).mean() > 0.8
        assert _near_white(after[rows, columns]).sum() >= 40


def test_the_badge_darkens_footage_so_white_text_stands_out():
    frames = np.full((1, 256, 256, 3), 255, dtype=np.uint8)

    labelled, spec = burn_disclosure(frames)

    badge = labelled[0][_box(spec)]
    assert np.median(badge) < 128
    assert _near_white(badge).any()


@pytest.mark.parametrize("height, width", [(256, 256), (240, 320), (480, 832), (720, 1280), (1080, 1920)])
@pytest.mark.parametrize("grey", [255, 128])  # on black footage only the text would show
def test_the_spec_reports_the_badge_burned_into_the_central_sixty_percent(height, width, grey):
    frames = np.full((1, height, width, 3), grey, dtype=np.uint8)

    labelled, spec = burn_disclosure(frames, text="Synthetic")

    assert _changed_box(frames[0], labelled[0]) == spec.box_px
    left, top, box_width, box_height = spec.box_px
    assert spec.crop_safe and spec.icon == ICON_TEXT == "AI"
    assert left >= SAFE_FRACTION * width and left + box_width <= (1 - SAFE_FRACTION) * width
    assert top >= SAFE_FRACTION * height and top + box_height <= (1 - SAFE_FRACTION) * height
    assert abs((left + box_width / 2) - width / 2) <= 1, "centred across the frame"
    assert top + box_height >= 0.7 * height, "in the lower third"
    assert spec.as_dict() == {"text": "Synthetic", "icon": "AI", "placement": spec.placement,
                              "box_px": dict(zip(("left", "top", "width", "height"), spec.box_px, strict=True)),
                              "crop_safe": True}
    assert "central 60%" in spec.placement and DISCLOSURE_TEXT == "AI-generated"


@pytest.mark.parametrize("keep_left, keep_top", [(0.1, 0.1), (0.0, 0.0), (0.2, 0.2), (0.0, 0.2), (0.2, 0.0),
                                                 (0.13, 0.04)])
def test_a_crop_to_eighty_percent_of_each_side_anywhere_keeps_the_whole_badge(keep_left, keep_top):
    height, width = 480, 832
    frames = _gradient_frames(1, height, width)
    labelled, spec = burn_disclosure(frames)
    x0, y0 = round(keep_left * width), round(keep_top * height)
    cropped_original = frames[0, y0:y0 + round(0.8 * height), x0:x0 + round(0.8 * width)]
    cropped = labelled[0, y0:y0 + round(0.8 * height), x0:x0 + round(0.8 * width)]

    left, top, box_width, box_height = spec.box_px
    assert _changed_box(cropped_original, cropped) == (left - x0, top - y0, box_width, box_height)


@pytest.mark.parametrize("height, width, icon", [(64, 64, ""), (128, 128, "AI")])
def test_a_frame_too_small_for_the_safe_area_still_gets_the_words_and_says_it_is_not_crop_safe(height, width, icon):
    frames = _gradient_frames(1, height, width)

    labelled, spec = burn_disclosure(frames)

    assert not spec.crop_safe and spec.icon == icon and "too narrow" in spec.placement
    assert _changed_box(frames[0], labelled[0]) == spec.box_px
    assert _near_white(labelled[0][_box(spec)]).sum() >= 20


def test_text_scales_with_frame_height():
    _, small_spec = burn_disclosure(_gradient_frames(1, 256, 256))
    large, large_spec = burn_disclosure(_gradient_frames(1, 1080, 1920))

    assert large_spec.box_px[3] >= 3.5 * small_spec.box_px[3]
    assert large_spec.box_px[3] <= 1080 // 8
    assert _near_white(large[0][_box(large_spec)]).any(axis=-1).sum() >= 30


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((64, 64, 3), dtype=np.uint8), "shape"),
        (np.zeros((2, 64, 64, 4), dtype=np.uint8), "shape"),
        (np.zeros((2, 64, 64, 3), dtype=np.float32), "uint8"),
        (np.zeros((1, 64, 40, 3), dtype=np.uint8), "width"),
        (np.zeros((1, 16, 64, 3), dtype=np.uint8), "height"),
        ([[[[0, 0, 0]]]], "shape"),
    ],
)
def test_rejects_frames_it_cannot_label(frames, message):
    with pytest.raises(ValueError, match=message):
        burn_disclosure(frames)


def test_rejects_blank_text():
    with pytest.raises(ValueError, match="empty"):
        burn_disclosure(_gradient_frames(1, 64, 64), text="  ")
