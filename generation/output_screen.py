"""The output screen: before publication, frame detectors check sampled frames of a render
for the content categories its license excludes, and a finding refuses the render.

Detectors are named by dotted path in `BESPOKE_OUTPUT_DETECTORS`; a render is screened
only by those covering a category its license excludes, so other renders pay nothing.
Categories no detector covers stay with the prompt screen of the consent gate.
What a finding does to the job is the render service's (generation.services.render).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

from generation.pipeline.nudity import detect_exposed_nudity
from provenance.services import SignedOutput

logger = logging.getLogger(__name__)

OUTPUT_REFUSED = "output_excluded_content"


@dataclass(frozen=True)
class Finding:
    category: str
    frame: int  # position in the frames given to `detect`
    label: str  # the detector's own class name
    score: float
    description: str  # what was found, for the producer: "exposed nudity"


@runtime_checkable
class FrameDetector(Protocol):
    name: str
    categories: frozenset[str]

    def detect(self, frames: Sequence[np.ndarray]) -> list[Finding]:
        """Findings on (height, width, 3) uint8 RGB frames, for the detector's categories only."""
        ...


class NudeNetDetector:
    name = "nudenet"
    categories = frozenset({"sexual"})

    def detect(self, frames: Sequence[np.ndarray]) -> list[Finding]:
        hits = detect_exposed_nudity(frames, threshold=settings.BESPOKE_NUDITY_THRESHOLD)
        return [Finding(category="sexual", frame=hit.frame, label=hit.label, score=hit.score,
                        description="exposed nudity") for hit in hits]


@lru_cache(maxsize=None)
def _detector(dotted_path: str) -> FrameDetector:
    detector = import_string(dotted_path)()
    if not isinstance(detector, FrameDetector):
        raise TypeError(f"{dotted_path} is not a frame detector (name, categories, detect)")
    return detector


def configured_detectors() -> tuple[FrameDetector, ...]:
    return tuple(_detector(path) for path in settings.BESPOKE_OUTPUT_DETECTORS)


def sample_frame_indices(frame_count: int, samples: int) -> list[int]:
    """Up to `samples` evenly spaced frame indices, always the first and the last."""
    if frame_count <= samples:
        return list(range(frame_count))
    step = (frame_count - 1) / (samples - 1)
    return sorted({round(i * step) for i in range(samples)})


@dataclass(frozen=True)
class ScreenReport:
    detectors: tuple[str, ...]
    categories: tuple[str, ...]
    frames: tuple[int, ...]  # the clip's frame indices that were checked
    seconds: float
    refusal: tuple[str, Finding] | None = None  # (detector, finding), the finding's frame an index in the clip

    def as_dict(self) -> dict[str, Any]:
        return {"detectors": list(self.detectors), "categories": list(self.categories), "frames": list(self.frames)}


def refusal_message(finding: Finding) -> str:
    return f"The output check found {finding.description}, which this license excludes; nothing was published."


def screen_frames(frames: Sequence[np.ndarray], excluded_categories: Iterable[str]) -> ScreenReport | None:
    """Run the detectors covering an excluded category on sampled frames; None when none applies."""
    excluded = set(excluded_categories)
    detectors = [detector for detector in configured_detectors() if detector.categories & excluded]
    if not detectors:
        return None
    indices = sample_frame_indices(len(frames), settings.BESPOKE_OUTPUT_SCREEN_FRAMES)
    sampled = [frames[index] for index in indices]
    started = time.monotonic()
    refusal = None
    for detector in detectors:
        findings = [finding for finding in detector.detect(sampled) if finding.category in excluded]
        if findings:
            worst = max(findings, key=lambda finding: finding.score)
            refusal = (detector.name, replace(worst, frame=indices[worst.frame]))
            break
    covered = excluded & set().union(*(detector.categories for detector in detectors))
    return ScreenReport(detectors=tuple(detector.name for detector in detectors), categories=tuple(sorted(covered)),
                        frames=tuple(indices), seconds=time.monotonic() - started, refusal=refusal)


def with_screen_record(signed: SignedOutput, report: ScreenReport | None) -> SignedOutput:
    """The signed output with its screening kept in its compliance record."""
    if report is None:
        return signed
    return replace(signed, compliance={**signed.compliance, "output_screen": report.as_dict()})
