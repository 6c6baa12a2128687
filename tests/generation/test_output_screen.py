"""The output screen: renders whose license excludes sexual content are checked frame by
frame (the real NudeNet, on frames of the real tiny pipeline) before publication, and a
finding refuses the render with nothing published."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from consent.models import LicenseUse
from generation import output_screen
from generation.models import RenderJob, RenderOutput
from generation.output_screen import Finding, NudeNetDetector, sample_frame_indices, screen_frames
from generation.pipeline import nudity
from generation.services import render as services
from tests.conftest import SMALL_RENDER, make_license

pytestmark = pytest.mark.django_db
PROMPT = "sks person walking along a beach at sunset"
REFUSAL = "The output check found exposed nudity, which this license excludes; nothing was published."


class AlwaysFires:
    """A detector registered through BESPOKE_OUTPUT_DETECTORS that finds nudity on the last frame it is given."""

    name = "always-fires"
    categories = frozenset({"sexual"})
    calls = 0

    def detect(self, frames: Sequence[np.ndarray]) -> list[Finding]:
        type(self).calls += 1
        return [Finding(category="sexual", frame=len(frames) - 1, label="TEST_EXPOSED", score=0.91,
                        description="exposed nudity")]


class NotADetector:
    name = "incomplete"


@pytest.fixture
def always_fires(settings):  # type: ignore[no-untyped-def]
    settings.BESPOKE_OUTPUT_DETECTORS = ["tests.generation.test_output_screen.AlwaysFires"]
    AlwaysFires.calls = 0
    return AlwaysFires


@pytest.fixture
def nudenet_calls(monkeypatch) -> list[tuple[int, ...]]:  # type: ignore[no-untyped-def]
    """The shapes of the frames the real NudeNet model is given (it still runs)."""
    model = nudity.nudenet_model()
    calls: list[tuple[int, ...]] = []
    real_detect = model.detect

    def detect(image: np.ndarray) -> list[dict]:
        calls.append(image.shape)
        return real_detect(image)

    monkeypatch.setattr(model, "detect", detect)
    return calls


def _render(license, personas) -> RenderJob:  # type: ignore[no-untyped-def]
    job = services.render_job_request(license_id=str(license.id), prompt=PROMPT, params=SMALL_RENDER,
                                      acting_user=personas.bob)
    return services.render_job_execute(job_id=str(job.id), worker="w1")


def _actions(job: RenderJob) -> list[str]:
    return list(AuditEvent.objects.filter(subject=job.audit_subject).order_by("seq").values_list("action", flat=True))


def _stored_files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


# --- through the render service -----------------------------------------------------------

def test_nudenet_screens_a_render_whose_license_excludes_sexual_content_and_it_publishes(
        personas, tiny_model, nudenet_calls):
    license = make_license(personas, excluded=("political", "sexual"))
    job = _render(license, personas)
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    assert nudenet_calls == [(128, 128, 3)] * SMALL_RENDER["num_frames"]
    output = RenderOutput.objects.get(job=job)
    assert output.compliance["output_screen"] == {"detectors": ["nudenet"], "categories": ["sexual"],
                                                  "frames": [0, 1, 2, 3]}
    assert _actions(job) == ["render.requested", "render.claimed", "render.published"]


def test_a_finding_refuses_the_render_with_nothing_published_and_no_retry(personas, tiny_model, always_fires,
                                                                           settings):
    license = make_license(personas, excluded=("sexual",))
    job = _render(license, personas)

    assert (job.status, job.outcome_code, job.outcome_message) == (RenderJob.Status.CANCELLED,
                                                                   "output_excluded_content", REFUSAL)
    assert always_fires.calls == 1
    assert not RenderOutput.objects.exists() and not LicenseUse.objects.exists() and not _stored_files(settings)
    assert _actions(job) == ["render.requested", "render.claimed", "render.output_refused", "render.cancelled"]
    refused = AuditEvent.objects.get(action="render.output_refused")
    assert json.loads(refused.body)["data"] == {"attempt": 1, "detector": "always-fires", "category": "sexual", "label": "TEST_EXPOSED",
                            "frame": SMALL_RENDER["num_frames"] - 1, "score": 0.91,
                            "frames_checked": SMALL_RENDER["num_frames"]}
    assert audit_chain_verify().ok

    assert services.render_job_execute(job_id=str(job.id), worker="w2") is None  # a redelivery does nothing
    services.render_jobs_reap()
    job.refresh_from_db()
    assert (job.status, job.attempt) == (RenderJob.Status.CANCELLED, 1) and always_fires.calls == 1


def test_the_producer_sees_the_reason_on_the_job_page_and_in_the_api(personas, tiny_model, always_fires):
    job = _render(make_license(personas, excluded=("sexual",)), personas)
    page = Client()
    page.force_login(personas.bob)
    fragment = page.get(reverse("portal-render-progress", kwargs={"job_id": job.id})).content.decode()
    assert REFUSAL in fragment
    api = APIClient()
    api.force_login(personas.bob)
    body = api.get(f"/api/v1/renders/{job.id}/").json()
    assert (body["outcome_code"], body["outcome_message"]) == ("output_excluded_content", REFUSAL)


def test_a_license_that_does_not_exclude_sexual_content_is_not_screened(personas, tiny_model, always_fires):
    job = _render(make_license(personas, excluded=("political",)), personas)
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    assert always_fires.calls == 0
    assert "output_screen" not in RenderOutput.objects.get(job=job).compliance


# --- the parts ------------------------------------------------------------------------------

@pytest.mark.parametrize(("frame_count", "expected"), [
    (1, [0]), (4, [0, 1, 2, 3]), (8, list(range(8))), (9, [0, 1, 2, 3, 5, 6, 7, 8]), (16, [0, 2, 4, 6, 9, 11, 13, 15]),
    (100, [0, 14, 28, 42, 57, 71, 85, 99]),
])
def test_up_to_eight_evenly_spaced_frames_are_sampled_with_the_first_and_the_last(frame_count, expected):
    assert sample_frame_indices(frame_count, 8) == expected


def test_a_finding_names_the_frame_of_the_clip_not_of_the_sample(always_fires, settings):
    settings.BESPOKE_OUTPUT_SCREEN_FRAMES = 3
    frames = np.zeros((9, 16, 16, 3), dtype=np.uint8)
    report = screen_frames(frames, ["sexual"])
    assert report.frames == (0, 4, 8)
    detector, finding = report.refusal
    assert (detector, finding.frame) == ("always-fires", 8)
    assert output_screen.refusal_message(finding) == REFUSAL


def test_only_detectors_covering_an_excluded_category_run(always_fires):
    frames = np.zeros((2, 16, 16, 3), dtype=np.uint8)
    assert screen_frames(frames, ["political", "violence"]) is None
    assert always_fires.calls == 0


def test_a_setting_naming_something_that_is_not_a_detector_is_refused(settings):
    settings.BESPOKE_OUTPUT_DETECTORS = ["tests.generation.test_output_screen.NotADetector"]
    with pytest.raises(TypeError, match="not a frame detector"):
        output_screen.configured_detectors()


def test_only_exposed_classes_at_or_above_the_threshold_count_as_nudity():
    detections = [
        [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.5, "box": [0, 0, 4, 4]},
         {"class": "FEMALE_BREAST_COVERED", "score": 0.99, "box": [0, 0, 4, 4]},
         {"class": "MALE_BREAST_EXPOSED", "score": 0.99, "box": [0, 0, 4, 4]},
         {"class": "FACE_FEMALE", "score": 0.99, "box": [0, 0, 4, 4]}],
        [],
        [{"class": "BUTTOCKS_EXPOSED", "score": 0.49, "box": [0, 0, 4, 4]},
         {"class": "MALE_GENITALIA_EXPOSED", "score": 0.8, "box": [0, 0, 4, 4]}],
    ]
    hits = nudity.exposed_nudity(detections, threshold=0.5)
    assert [(hit.frame, hit.label, hit.score) for hit in hits] == [(0, "FEMALE_BREAST_EXPOSED", 0.5),
                                                                   (2, "MALE_GENITALIA_EXPOSED", 0.8)]
    assert nudity.EXPOSED_NUDITY_CLASSES == {"FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED",
                                             "MALE_GENITALIA_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED"}


def test_nudenet_is_given_bgr_frames_and_its_hits_become_sexual_findings(monkeypatch, settings):
    settings.BESPOKE_NUDITY_THRESHOLD = 0.6
    seen: list[np.ndarray] = []

    class FakeModel:
        def detect(self, image: np.ndarray) -> list[dict]:
            seen.append(image)
            return [{"class": "ANUS_EXPOSED", "score": 0.7, "box": [0, 0, 1, 1]},
                    {"class": "BUTTOCKS_EXPOSED", "score": 0.59, "box": [0, 0, 1, 1]}]

    monkeypatch.setattr(nudity, "nudenet_model", FakeModel)
    frame = np.zeros((8, 8, 3), dtype=np.uint8)
    frame[..., 0] = 200  # red in RGB
    findings = NudeNetDetector().detect([frame])
    assert seen[0][..., 2].min() == 200 and seen[0][..., 0].max() == 0 and seen[0].flags.c_contiguous
    assert findings == [Finding(category="sexual", frame=0, label="ANUS_EXPOSED", score=0.7,
                                description="exposed nudity")]


def test_the_real_nudenet_finds_no_nudity_on_a_plain_skin_toned_frame():
    skin = np.empty((256, 256, 3), dtype=np.uint8)
    skin[:] = (225, 170, 130)  # RGB
    assert nudity.detect_exposed_nudity([skin], threshold=0.2) == []


@pytest.mark.parametrize("value", ["half", "0.1"])
def test_a_malformed_nudity_threshold_stops_the_process_with_the_variable_named(value, tmp_path):
    env = {name: setting for name, setting in os.environ.items() if not name.startswith("BESPOKE_")}
    env.update(BESPOKE_DATA_DIR=str(tmp_path), BESPOKE_NUDITY_THRESHOLD=value)
    result = subprocess.run([sys.executable, "-c", "import bespoke.settings"], cwd=Path(__file__).parents[2], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "BESPOKE_NUDITY_THRESHOLD" in result.stderr
