"""Face matching (consent.faces) on real photos, offline, without the database.

Only two real people appear: Eileen Collins (scikit-image's `astronaut`, 512x512) and Grace
Hopper (matplotlib's `grace_hopper.jpg`, 512x600); both files ship inside those packages.
Every other "same person" image is a transformed copy of one of them (flip, crop, 50%
resize, JPEG q60, brightness +15%, 5 degree rotation, EXIF-rotated, upscaled past the
size limit), so this shows robustness to those edits and that two different people are
told apart, not accuracy across a population. Also covered: images with no face (a cat,
a coffee cup, a gradient, noise), two confident faces side by side, unusable images, the
median rule, and the 512-byte form of a descriptor.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import skimage.data
from matplotlib import cbook
from PIL import Image, ImageEnhance

from consent import faces
from consent.faces import FaceError, descriptor_bytes, descriptor_from_bytes, face_descriptor, faces_match

ASTRONAUT = skimage.data.astronaut()
HOPPER = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))


def _pil(a: np.ndarray) -> Image.Image:
    return Image.fromarray(a)


def _jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    _pil(a).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


ASTRONAUT_COPIES = {
    "flip": ASTRONAUT[:, ::-1],
    "crop": ASTRONAUT[40:300, 100:360],
    "resize 50%": np.asarray(_pil(ASTRONAUT).resize((256, 256), Image.Resampling.LANCZOS)),
    "jpeg q60": _jpeg(ASTRONAUT, 60),
    "brightness +15%": np.asarray(ImageEnhance.Brightness(_pil(ASTRONAUT)).enhance(1.15)),
    "rotate 5 deg": np.asarray(_pil(ASTRONAUT).rotate(5, resample=Image.Resampling.BICUBIC)),
}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return face_descriptor(ASTRONAUT)


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    return face_descriptor(HOPPER)


def test_a_descriptor_is_128_float32(astronaut):
    assert astronaut.shape == (128,)
    assert astronaut.dtype == np.float32
    assert np.all(np.isfinite(astronaut))


@pytest.mark.parametrize("name", list(ASTRONAUT_COPIES))
def test_the_same_person_matches_across_edited_copies(astronaut, name):
    result = faces_match([astronaut], [face_descriptor(ASTRONAUT_COPIES[name])])
    assert result.same_person, (name, result)
    assert result.distance < 0.45  # measured at most 0.41 (research); well inside 0.6
    assert result.threshold == faces.MATCH_THRESHOLD == 0.6


def test_several_frames_against_several_photos_match(astronaut):
    reference = [astronaut, face_descriptor(ASTRONAUT_COPIES["jpeg q60"])]
    probe = [face_descriptor(ASTRONAUT_COPIES[name]) for name in ("flip", "resize 50%", "rotate 5 deg")]
    assert faces_match(reference, probe).same_person


def test_two_different_people_do_not_match(astronaut, hopper):
    result = faces_match([astronaut], [hopper])
    assert not result.same_person
    assert result.distance > 0.6  # measured 0.63-0.72 across edited copies
    hopper_copies = [face_descriptor(HOPPER[:, ::-1]), face_descriptor(_jpeg(HOPPER, 60))]
    assert not faces_match([astronaut], hopper_copies).same_person
    assert faces_match([hopper], hopper_copies).same_person


def test_the_threshold_is_a_parameter(astronaut):
    flipped = face_descriptor(ASTRONAUT_COPIES["flip"])
    assert faces_match([astronaut], [flipped]).same_person
    assert not faces_match([astronaut], [flipped], threshold=0.01).same_person


def test_the_median_pair_decides_not_one_outlier(astronaut, hopper):
    # One stranger's frame among three of the right person does not fail the match...
    frames = [face_descriptor(ASTRONAUT_COPIES[n]) for n in ("flip", "jpeg q60", "brightness +15%")]
    assert faces_match([astronaut], [*frames, hopper]).same_person
    # ...and one lucky frame among a stranger's does not pass it.
    stranger = [hopper, face_descriptor(HOPPER[:, ::-1]), face_descriptor(_jpeg(HOPPER, 60))]
    assert not faces_match([astronaut], [*stranger, frames[0]]).same_person


@pytest.mark.parametrize(
    "name, image",
    [
        ("a cat", skimage.data.chelsea()),
        ("a coffee cup", skimage.data.coffee()),
        ("a gradient", np.tile(np.arange(256, dtype=np.uint8), (256, 1))),
        ("noise", np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)),
    ],
)
def test_an_image_without_a_face_is_refused(name, image):
    with pytest.raises(FaceError, match="No face found"):
        face_descriptor(image)


def test_two_faces_side_by_side_are_refused():
    hopper = np.asarray(_pil(HOPPER).resize((437, 512), Image.Resampling.LANCZOS))
    with pytest.raises(FaceError, match="More than one face"):
        face_descriptor(np.concatenate([ASTRONAUT, hopper], axis=1))


def test_a_weak_second_detection_is_ignored(astronaut, monkeypatch):
    # The mission patch on the astronaut photo is a low-scoring false "face" (about 0.1 against
    # 1.2 for her face): under the default rule the photo holds one face...
    assert face_descriptor(ASTRONAUT).shape == (128,)
    # ...and counting every detection would refuse it.
    monkeypatch.setattr(faces, "SECOND_FACE_SCORE", 0.0)
    with pytest.raises(FaceError, match="More than one face"):
        face_descriptor(ASTRONAUT)


@pytest.mark.parametrize(
    "image, reason",
    [
        (np.zeros((40, 400, 3), dtype=np.uint8), "too small"),
        (ASTRONAUT.astype(np.float64) / 255, "not an 8-bit picture"),
        (np.zeros((100, 100, 2), dtype=np.uint8), "not an RGB picture"),
    ],
)
def test_an_unusable_image_is_refused(image, reason):
    with pytest.raises(FaceError, match=reason):
        face_descriptor(image)


def test_a_large_image_is_cut_down_first(astronaut):
    large = np.asarray(_pil(ASTRONAUT).resize((2048, 2048), Image.Resampling.LANCZOS))
    assert faces_match([astronaut], [face_descriptor(large)]).distance < 0.2


def test_encoded_photos_are_decoded_upright(astronaut):
    # A phone stores the photo sideways plus an EXIF orientation tag (6: rotate 90 clockwise).
    sideways = _pil(ASTRONAUT).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    sideways.save(buffer, "JPEG", quality=90, exif=exif)
    rgb = faces.rgb_from_bytes(buffer.getvalue())
    assert rgb.shape == ASTRONAUT.shape
    assert faces_match([astronaut], [face_descriptor(rgb)]).same_person


def test_bytes_that_are_not_a_picture_are_refused():
    with pytest.raises(FaceError, match="could not be read"):
        faces.rgb_from_bytes(b"not a picture at all")


def test_the_byte_form_round_trips(astronaut):
    blob = descriptor_bytes(astronaut)
    assert len(blob) == 512
    assert blob == astronaut.astype("<f4").tobytes()
    back = descriptor_from_bytes(blob)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, astronaut)
    assert faces_match([back], [astronaut]).distance == 0.0


@pytest.mark.parametrize("length", [0, 511, 513, 1024])
def test_a_blob_of_the_wrong_length_is_refused(length):
    with pytest.raises(ValueError, match="512 bytes"):
        descriptor_from_bytes(b"\0" * length)


def test_a_descriptor_must_be_128_finite_numbers():
    with pytest.raises(ValueError):
        descriptor_bytes(np.zeros(127, dtype=np.float32))
    with pytest.raises(ValueError):
        descriptor_from_bytes(np.full(128, np.nan, dtype="<f4").tobytes())
    with pytest.raises(ValueError):
        faces_match([], [np.zeros(128, dtype=np.float32)])
