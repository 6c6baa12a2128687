"""Exposed-nudity detection on rendered frames with NudeNet, whose ONNX detector ships in
its wheel (so it runs offline, like the rest of the pipeline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

# NudeNet also reports covered parts, faces, feet, bellies, armpits and male chests: none
# of those is nudity a license can exclude.
EXPOSED_NUDITY_CLASSES = frozenset({
    "FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED",
})


@dataclass(frozen=True)
class NudityHit:
    frame: int  # position in the frames given
    label: str
    score: float


@lru_cache(maxsize=1)
def nudenet_model() -> Any:
    """The detector, loaded once per process."""
    from nudenet import NudeDetector

    return NudeDetector()


def exposed_nudity(detections_per_frame: Sequence[Sequence[dict[str, Any]]], threshold: float) -> list[NudityHit]:
    """The hits among NudeNet's raw detections (one list per frame): exposed classes at or above the threshold."""
    return [NudityHit(frame=frame, label=str(detection["class"]), score=float(detection["score"]))
            for frame, detections in enumerate(detections_per_frame) for detection in detections
            if detection["class"] in EXPOSED_NUDITY_CLASSES and float(detection["score"]) >= threshold]


def detect_exposed_nudity(frames_rgb: Sequence[np.ndarray], threshold: float) -> list[NudityHit]:
    """Run NudeNet on (height, width, 3) uint8 RGB frames; NudeNet reads BGR, as OpenCV does."""
    model = nudenet_model()
    detections = [model.detect(np.ascontiguousarray(frame[..., ::-1])) for frame in frames_rgb]
    return exposed_nudity(detections, threshold)
