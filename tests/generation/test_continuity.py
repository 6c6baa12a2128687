"""Scene continuity: Bob continues an earlier output of Alice's license, and the new clip starts
from its last frame (image-to-video on the wan family), carries its own label, watermark and
signed manifest, and names the earlier output as an ingredient that `verify_media --json` lists.

The tiny Wan model is randomly initialised: it does not reproduce the frame it is conditioned
on (its continued first frame is as far from the earlier last frame as an unrelated render's,
a mean absolute difference of about 8.4 levels either way), so what is checked here is the
frame the render starts from, not how faithfully this model follows it.
"""

from __future__ import annotations

import json
import uuid
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from consent import gate
from consent import services as consent
from consent.models import LicenseUse
from core.errors import ValidationFailed
from generation.models import RenderJob, RenderOutput
from generation.pipeline.video import decode_mp4
from generation.services import render
from generation.services.continuity import last_frame
from tests.conftest import SMALL_RENDER, make_license

pytestmark = pytest.mark.django_db


def _published(license, user, **params) -> RenderOutput:  # type: ignore[no-untyped-def]
    job = render.render_job_request(license_id=str(license.id), prompt="sks person walking on a beach",
                                    params={**SMALL_RENDER, **params}, acting_user=user)
    job = render.render_job_execute(job_id=str(job.id), worker="w1")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    return job.output


def _verify_json(output: RenderOutput) -> dict:
    out = StringIO()
    call_command("verify_media", default_storage.path(output.file.name), "--json", stdout=out)
    return json.loads(out.getvalue())


def _refused(license, user, continue_from: object) -> ValidationFailed:  # type: ignore[no-untyped-def]
    events, jobs = AuditEvent.objects.count(), RenderJob.objects.count()
    with pytest.raises(ValidationFailed) as refusal:
        render.render_job_request(license_id=str(license.id), prompt="sks person walking on",
                                  params={**SMALL_RENDER, "continue_from": continue_from}, acting_user=user)
    assert refusal.value.field == "continue_from"
    assert (AuditEvent.objects.count(), RenderJob.objects.count()) == (events, jobs)
    return refusal.value


def test_bobs_continued_scene_starts_from_the_last_frame_and_lists_the_earlier_output_as_an_ingredient(
        personas, active_license, tiny_wan):
    earlier = _published(active_license, personas.bob)
    earlier_file = Path(default_storage.path(earlier.file.name))
    # The frame a continuation starts from is the last one a viewer of the earlier clip saw.
    assert np.array_equal(last_frame(earlier_file, width=128, height=128), decode_mp4(earlier_file)[-1])

    job = render.render_job_request(
        license_id=str(active_license.id), prompt="sks person walking into the city", acting_user=personas.bob,
        params={**SMALL_RENDER, "width": 160, "seed": 7, "continue_from": str(earlier.id).upper()})
    assert job.params["continue_from"] == str(earlier.id)
    requested = json.loads(AuditEvent.objects.filter(action="render.requested", subject=job.audit_subject).get().body)
    assert requested["data"]["params"]["continue_from"] == str(earlier.id)
    job = render.render_job_execute(job_id=str(job.id), worker="w1")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    continued = job.output
    # Asked at another size, the earlier frame is scaled and cropped to it: the clip is 160x128.
    assert decode_mp4(Path(default_storage.path(continued.file.name))).shape == (4, 128, 160, 3)

    report = _verify_json(continued)
    assert report["manifest"]["state"] == "trusted"
    assert report["manifest"]["output_id"] == str(continued.id)
    [ingredient] = report["ingredients"]
    assert (ingredient["relationship"], ingredient["state"]) == ("inputTo", "trusted")
    assert (ingredient["output_id"], ingredient["manifest_label"]) == (str(earlier.id), earlier.manifest_label)
    assert ingredient["watermark_id"] == earlier.watermark_id
    assert [status["state"] for status in ingredient["consent_status"]] == ["active"]
    assert continued.compliance["continues"] == {"output_id": str(earlier.id),
                                                 "manifest_label": earlier.manifest_label}
    published = json.loads(AuditEvent.objects.filter(action="render.published", subject=job.audit_subject).get().body)
    assert published["data"]["continues"] == str(earlier.id)
    assert set(LicenseUse.objects.values_list("output_ref", flat=True)) == {str(earlier.id), str(continued.id)}

    # Refused before anything is written: another license's output, an id that is no output.
    other_license = make_license(personas, project="Harbour Lights")
    refusal = _refused(other_license, personas.bob, str(earlier.id))
    assert refusal.message == "There is no published output of this license with that id to continue from."
    _refused(active_license, personas.bob, str(uuid.uuid4()))
    _refused(active_license, personas.bob, str(job.id))  # the render, not its output

    # A continuation queued before Alice revokes is cancelled, and nothing more is published.
    queued = render.render_job_request(license_id=str(active_license.id), prompt="sks person waving",
                                       params={**SMALL_RENDER, "continue_from": str(continued.id)},
                                       acting_user=personas.bob)
    consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    render.render_job_execute(job_id=str(queued.id), worker="w1")
    queued.refresh_from_db()
    assert (queued.status, queued.outcome_code) == (RenderJob.Status.CANCELLED, "license_revoked")
    assert RenderOutput.objects.count() == 2
    with pytest.raises(gate.ConsentRefused):
        render.render_job_request(license_id=str(active_license.id), prompt="sks person waving",
                                  params={**SMALL_RENDER, "continue_from": str(continued.id)},
                                  acting_user=personas.bob)
    assert audit_chain_verify().ok


@pytest.mark.parametrize("value", ["scene-one", 42, ["0b8f3a52-7c1e-4f4e-9d55-2f0a9c1b7e01"], ""])
def test_a_continue_from_that_is_not_an_output_id_is_refused_on_its_field(personas, active_license, tiny_wan, value):
    refusal = _refused(active_license, personas.bob, value)
    assert refusal.message == "continue_from must be the id of an earlier output to continue from."


def test_a_deployment_whose_model_renders_from_text_only_refuses_to_continue_a_scene(personas, active_license,
                                                                                      settings):
    settings.BESPOKE_MODEL_FAMILY = "animatediff-sd15"
    settings.BESPOKE_MODEL_IMAGE_TO_VIDEO = None
    refusal = _refused(active_license, personas.bob, str(uuid.uuid4()))
    assert refusal.message.startswith("This deployment's model (animatediff-sd15) cannot continue a scene")


def test_a_frame_of_another_shape_is_scaled_to_cover_and_cropped_about_its_centre(tmp_path):
    from generation.pipeline.video import encode_mp4

    # A 128x128 clip whose last frame is dark on the left, bright on the right, a grey band between.
    frame = np.zeros((128, 128, 3), dtype=np.uint8)
    frame[:, 64:] = 220
    frame[:, 56:72] = 128
    clip = tmp_path / "clip.mp4"
    encode_mp4(np.stack([np.full_like(frame, 60), frame]), clip, fps=4)
    wide = last_frame(clip, width=256, height=128)
    assert wide.shape == (128, 256, 3)
    # Scaled to 256x256 and cropped to the middle rows: no squeezing, the band stays a band 32 pixels wide.
    assert float(wide[:, :100].mean()) < 12 and abs(float(wide[:, 156:].mean()) - 220) < 12
    assert abs(float(wide[:, 116:140].mean()) - 128) < 12
