"""Face matching: does a viewer's capture show the same person as the viewer's own photos?

Each image is reduced to a face descriptor (128 numbers); two descriptors of the same
person lie close together. `faces_match` compares the descriptors of the capture frames
with those of the photos. This checks likeness only: it is not liveness, and it is not
identity verification.

Descriptors are biometric data. Never store one in clear (seal `descriptor_bytes` in the
talent's vault, `consent.vault`) and never log one; nothing here logs.

Models: dlib (Boost Software License, the `dlib-bin` wheel) runs its built-in HOG face
detector, the 5-point landmark model and the ResNet descriptor model from
`face-recognition-models` (both CC0 / public domain). That package also ships
`shape_predictor_68_face_landmarks.dat`, which is licensed for non-commercial use only:
it is never loaded here.

Measured on real photos of two different people (Eileen Collins, scikit-image's
astronaut; Grace Hopper, matplotlib's sample): edited copies of one person (flip, crop,
resize, JPEG, brightness, small rotation) 0.00-0.41, the 0.41 for a copy rotated, JPEG'd
and cut to 40% at once; the two people 0.63-0.72 (dlib's own threshold is 0.6). Two
people are not a population: treat the threshold as a starting point. Time per image on
one CPU core: about 0.1-0.3 s at 256-512 px; images are cut down to 1024 px on the long
side first, which bounds it near 0.75 s (a 4000x4688 photo took 0.74 s). Loading the
models, once, takes about 0.8 s.

dlib's model objects are not thread-safe (sharing them crashed the process in testing),
so every call runs under one lock.
"""

from __future__ import annotations

import importlib.util
import io
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# Euclidean distance below which two descriptors are taken for the same person. A tunable
# parameter; 0.6 is the margin dlib's descriptor model was trained with.
MATCH_THRESHOLD = 0.6
# A second detection at least this confident means a second face. Weaker extra detections
# are ignored: the mission patch on the astronaut photo is a false "face" scoring 0.1-0.6,
# real faces score about 1.1-1.7.
SECOND_FACE_SCORE = 0.8
# Images are cut down to this many pixels on the long side before detection (detection time
# grows with the pixel count; a face in a 1024 px photo is still far above the minimum).
MAX_SIDE = 1024
# Smaller images cannot hold a face the detector finds (it needs about 40 px per face).
MIN_SIDE = 64
# Refuse to decode larger images at all (a decompression bomb would exhaust memory).
MAX_DECODE_PIXELS = 50_000_000
# Upsample once before detection: finds faces down to about 40 px.
_UPSAMPLE = 1

DESCRIPTOR_DIM = 128
DESCRIPTOR_BYTES = DESCRIPTOR_DIM * 4  # float32, little-endian
_DTYPE = np.dtype("<f4")

_LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"  # CC0
_RESNET = "dlib_face_recognition_resnet_model_v1.dat"  # CC0


class FaceError(ValueError):
    """The image cannot be used for face matching; str() is a reason in plain words."""


@dataclass(frozen=True)
class FaceMatch:
    same_person: bool
    distance: float  # the median pairwise distance, which decided
    threshold: float


_LOCK = threading.Lock()
_models: tuple | None = None


def _models_dir() -> Path:
    # Locate the model folder without importing face_recognition_models: its __init__ imports
    # pkg_resources, which setuptools >= 81 no longer provides.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face matching needs the face-recognition-models package installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _load_models() -> tuple:
    """(detector, 5-point landmarks, descriptor model); loaded once. Call with _LOCK held."""
    global _models
    if _models is None:
        import dlib

        folder = _models_dir()
        _models = (
            dlib.get_frontal_face_detector(),  # built into dlib, no model file
            dlib.shape_predictor(str(folder / _LANDMARKS_5)),
            dlib.face_recognition_model_v1(str(folder / _RESNET)),
        )
    return _models


def rgb_from_bytes(data: bytes) -> np.ndarray:
    """Decode an encoded photo (JPEG, PNG, ...) to an RGB array, upright per its EXIF
    orientation (phones store photos sideways; the detector only finds upright faces)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_DECODE_PIXELS:
                raise FaceError("The image is too large to read.")
            upright = ImageOps.exif_transpose(img)
            return np.asarray(upright.convert("RGB"))
    except FaceError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise FaceError("The image could not be read as a picture.") from exc


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        raise FaceError("The image could not be read: it is not an 8-bit picture.")
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim != 3 or a.shape[2] != 3:
        raise FaceError("The image could not be read: it is not an RGB picture.")
    height, width = a.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise FaceError(f"The image is too small to find a face in (at least {MIN_SIDE} pixels on each side).")
    if max(height, width) > MAX_SIDE:
        scale = MAX_SIDE / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        a = np.asarray(Image.fromarray(a).resize(size, Image.Resampling.LANCZOS))
    return np.ascontiguousarray(a)


def face_descriptor(rgb: np.ndarray) -> np.ndarray:
    """The descriptor (128 float32) of the one face in an HxWx3 uint8 RGB image (grey and RGBA
    are accepted). Raises FaceError when there is no face, more than one, or the image is
    unusable."""
    image = _as_rgb(rgb)
    with _LOCK:
        detector, landmarks, resnet = _load_models()
        boxes, scores, _ = detector.run(image, _UPSAMPLE, 0.0)
        if len(boxes) == 0:
            raise FaceError("No face found in the image.")
        if sum(1 for score in scores if score >= SECOND_FACE_SCORE) > 1:
            raise FaceError("More than one face in the image: use a picture of one person only.")
        best = boxes[int(np.argmax(scores))]
        vector = resnet.compute_face_descriptor(image, landmarks(image, best))
    return np.asarray(vector, dtype=np.float32)


def _checked(descriptor: np.ndarray) -> np.ndarray:
    d = np.asarray(descriptor, dtype=np.float32)
    if d.shape != (DESCRIPTOR_DIM,) or not np.all(np.isfinite(d)):
        raise ValueError(f"a face descriptor is {DESCRIPTOR_DIM} finite numbers")
    return d


def faces_match(
    reference: Sequence[np.ndarray], probe: Sequence[np.ndarray], *, threshold: float = MATCH_THRESHOLD
) -> FaceMatch:
    """Whether the probe descriptors (capture frames) show the person of the reference
    descriptors (the viewer's photos)."""
    if not reference or not probe:
        raise ValueError("face matching needs at least one reference and one probe descriptor")
    refs = [_checked(d) for d in reference]
    probes = [_checked(d) for d in probe]
    distances = [float(np.linalg.norm(r - p)) for r in refs for p in probes]
    # The median of all pairs decides, not the closest or the farthest pair: with the minimum
    # one lucky frame resembling the photos would pass a stranger, with the maximum one blurred
    # or half-turned frame would fail the right person, and a mean is pulled by either. The
    # median passes only when most pairs agree.
    distance = statistics.median(distances)
    return FaceMatch(same_person=distance < threshold, distance=distance, threshold=threshold)


def descriptor_bytes(descriptor: np.ndarray) -> bytes:
    """The byte form to seal in the vault: 128 float32, little-endian (512 bytes)."""
    return _checked(descriptor).astype(_DTYPE).tobytes()


def descriptor_from_bytes(data: bytes) -> np.ndarray:
    if len(data) != DESCRIPTOR_BYTES:
        raise ValueError(f"a face descriptor is {DESCRIPTOR_BYTES} bytes, got {len(data)}")
    return _checked(np.frombuffer(data, dtype=_DTYPE).astype(np.float32))
