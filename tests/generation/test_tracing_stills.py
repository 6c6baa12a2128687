"""A still traces like a clip: someone saves one frame of Bob's published render as a PNG or
a JPEG (a screenshot carries no manifest), or strips the manifest off a keyframe or crops
it (a keyframe carries the crop-robust version 2 of the mark; a clip, version 2 and version 1
as two layers, the second keeping re-encoded copies), and uploads it to the public verify
page or runs `verify_media` on it. The invisible watermark leads to the output, its license
and the consent in force today; a still Bespoke never published leads nowhere."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from consent import services as consent
from generation.models import RenderJob, RenderOutput
from generation.pipeline.video import decode_mp4
from generation.services import render as services
from generation.tracing import media_verify
from provenance.verify_bounds import TooLargeToCheck

pytestmark = pytest.mark.django_db

TRACEABLE_RENDER = {"num_frames": 4, "width": 256, "height": 256, "steps": 3, "fps": 8}


@pytest.fixture
def published(personas, active_license, tiny_wan, tmp_path) -> tuple[RenderOutput, Path]:
    job = services.render_job_request(license_id=str(active_license.id), prompt="sks person reading a book",
                                      params=TRACEABLE_RENDER, acting_user=personas.bob)
    job = services.render_job_execute(job_id=str(job.id), worker="w1")
    clip = tmp_path / "clip.mp4"
    shutil.copy(default_storage.path(job.output.file.name), clip)
    return job.output, clip


def _cropped(frame: np.ndarray) -> np.ndarray:
    """20% of the width and the height cropped away, off-centre."""
    height, width = frame.shape[:2]
    return frame[height // 20:height // 20 + int(height * 0.8), width // 6:width // 6 + int(width * 0.8)]


def _screenshot(clip: Path, name: str, **options: int) -> Path:
    """One frame of the clip saved as a still with no metadata."""
    frame = decode_mp4(clip)[3]
    path = clip.with_name(name)
    Image.fromarray(frame).save(path, **options)
    return path


def _verify_json(path: Path) -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command("verify_media", str(path), "--json", stdout=out)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code)
    return code, json.loads(out.getvalue())


@pytest.mark.parametrize(("name", "options"), [("frame.png", {}), ("frame.jpg", {"quality": 75})],
                         ids=["png", "jpeg-q75"])
def test_a_still_of_a_published_render_is_traced_to_its_output_and_consent(published, active_license,
                                                                            name, options):
    output, clip = published
    still = _screenshot(clip, name, **options)

    result = media_verify(path=still)

    assert result.manifest.state == "no_manifest"
    assert result.trace is not None
    assert (result.trace.watermark_id, result.trace.output_id) == (output.watermark_id, str(output.id))
    assert result.trace.license_id == str(active_license.id)
    assert result.consent is not None and result.consent.state == "active"
    assert result.work.frames_decoded == 1


def test_verify_media_reports_a_still_traced_and_then_its_consent_revoked(published, personas, active_license):
    output, clip = published
    still = _screenshot(clip, "frame.jpg", quality=75)

    code, report = _verify_json(still)
    assert code == 2 and report["trace"]["output_id"] == str(output.id)
    assert report["consent"]["state"] == "active"

    consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    assert _verify_json(still)[1]["consent"]["state"] == "revoked"


def test_the_verify_page_traces_an_uploaded_still(client, empty_cache, published):
    output, clip = published
    still = _screenshot(clip, "frame.png")

    response = client.post("/verify/", {"file": still.open("rb")})

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="trace"' in page and str(output.id) in page and output.manifest_label in page
    assert 'id="consent-state" class="ok">active' in page


def test_a_keyframe_whose_manifest_was_stripped_is_traced(personas, active_license, tiny_wan, tmp_path):
    job = services.render_job_request(license_id=str(active_license.id), prompt="sks person on a beach at dawn",
                                      params={"width": 256, "height": 256, "steps": 3, "keyframe": True},
                                      acting_user=personas.bob)
    job = services.render_job_execute(job_id=str(job.id), worker="w1")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    with Image.open(default_storage.path(job.output.file.name)) as image:
        pixels = np.asarray(image.convert("RGB"))
    for name, still in (("keyframe.png", pixels), ("keyframe-cropped.png", _cropped(pixels))):
        stripped = tmp_path / name
        Image.fromarray(still).save(stripped)

        result = media_verify(path=stripped)

        assert result.manifest.state == "no_manifest", name
        assert result.trace is not None and result.trace.output_id == str(job.output.id), name


def test_a_still_bespoke_never_published_is_not_traced(tmp_path):
    rng = np.random.default_rng(11)
    still = tmp_path / "other.png"
    Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(still)

    result = media_verify(path=still)

    assert result.manifest.state == "no_manifest" and result.trace is None and result.consent is None


def test_a_still_beyond_the_budget_is_refused_from_its_header(tmp_path):
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((16, 8200, 3), np.uint8)).save(wide)

    with pytest.raises(TooLargeToCheck) as refused:
        media_verify(path=wide)

    assert refused.value.reason == "frame_side" and refused.value.work.frames_decoded == 0
