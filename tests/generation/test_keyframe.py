"""Keyframe, then animate: Bob asks for a keyframe (one still of Alice's likeness), sees it, and
animates it (image-to-video) or asks for another. The keyframe is gated, labelled, watermarked,
signed and counted as a use like any render; the clip animated from it names it as a C2PA
ingredient that `verify_media --json` lists.
"""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from consent import gate
from consent import services as consent
from consent.models import LicenseUse
from core.errors import ValidationFailed
from generation.models import RenderJob, RenderOutput
from generation.pipeline.families import family_for
from generation.pipeline.loading import load_image_pipeline, pipeline_cache
from generation.pipeline.rendering import RenderSettings
from generation.pipeline.video import decode_mp4
from generation.services import keyframes, render
from generation.services.continuity import NOT_ANIMATABLE, still_frame
from provenance import watermark
from tests.conftest import make_license

pytestmark = pytest.mark.django_db

STILL = {"width": 128, "height": 128, "steps": 3}
CLIP = {"num_frames": 4, "fps": 4}
PROMPT = "sks person standing on a beach at dawn"


def _keyframe(license, user, **params) -> RenderJob:  # type: ignore[no-untyped-def]
    job = render.render_job_request(license_id=str(license.id), prompt=PROMPT, acting_user=user,
                                    params={**STILL, "keyframe": True, **params})
    return _run(job)


def _run(job: RenderJob) -> RenderJob:
    job = render.render_job_execute(job_id=str(job.id), worker="w1")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    return job


def _path(output: RenderOutput) -> Path:
    return Path(default_storage.path(output.file.name))


def _verify_json(output: RenderOutput) -> dict:
    out = StringIO()
    call_command("verify_media", str(_path(output)), "--json", stdout=out)
    return json.loads(out.getvalue())


def _refused_on(field: str, license, user, params: dict) -> ValidationFailed:  # type: ignore[no-untyped-def]
    events, jobs = AuditEvent.objects.count(), RenderJob.objects.count()
    with pytest.raises(ValidationFailed) as refusal:
        render.render_job_request(license_id=str(license.id), prompt=PROMPT, params=params, acting_user=user)
    assert refusal.value.field == field
    assert (AuditEvent.objects.count(), RenderJob.objects.count()) == (events, jobs)
    return refusal.value


def test_bobs_keyframe_is_a_labelled_watermarked_signed_still_and_the_clip_animated_from_it_lists_it(
        personas, active_license, tiny_wan, settings):
    keyframe = _keyframe(active_license, personas.bob)
    assert keyframe.is_keyframe and keyframe.params["num_frames"] == 1
    still = keyframe.output
    assert still.file.name.endswith(".png")
    with Image.open(_path(still)) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (128, 128), "RGB")
        pixels = np.asarray(image)
    reading = watermark.watermark_read(pixels[None], key=settings.BESPOKE_WATERMARK_KEY)
    assert reading is not None and reading.watermark_id == still.watermark_id

    report = _verify_json(still)
    manifest = report["manifest"]
    assert manifest["state"] == "trusted"
    assert (manifest["output_id"], manifest["title"]) == (str(still.id), f"{still.id}.png")
    assert manifest["disclosure"]["text"] == "AI-generated" and manifest["watermark_id"] == still.watermark_id
    assert "c2pa.soft-binding" in manifest["assertion_labels"]
    assert report["consent"]["state"] == "active"
    # A keyframe is a published likeness: recorded as a use of the license, so revocation lists it.
    assert list(LicenseUse.objects.values_list("output_ref", flat=True)) == [str(still.id)]

    clip_job = keyframes.keyframe_animate(job=keyframe, acting_user=personas.bob, params=CLIP)
    assert clip_job.params["animate_keyframe"] == str(still.id)
    assert (clip_job.prompt, clip_job.params["width"], clip_job.params["seed"]) == (PROMPT, 128, 0)
    clip = _run(clip_job).output
    assert decode_mp4(_path(clip)).shape == (4, 128, 128, 3)
    # The clip starts from the keyframe the producer saw, pixel for pixel.
    assert np.array_equal(still_frame(_path(still), width=128, height=128), pixels)

    report = _verify_json(clip)
    assert report["manifest"]["state"] == "trusted" and report["manifest"]["output_id"] == str(clip.id)
    [ingredient] = report["ingredients"]
    assert (ingredient["relationship"], ingredient["state"], ingredient["title"]) == (
        "inputTo", "trusted", f"{still.id}.png")
    assert (ingredient["output_id"], ingredient["manifest_label"]) == (str(still.id), still.manifest_label)
    assert ingredient["watermark_id"] == still.watermark_id
    assert [status["state"] for status in ingredient["consent_status"]] == ["active"]
    assert clip.compliance["keyframe"] == {"output_id": str(still.id), "manifest_label": still.manifest_label}
    published = json.loads(AuditEvent.objects.filter(action="render.published", subject=clip_job.audit_subject)
                           .get().body)
    assert published["data"]["animates_keyframe"] == str(still.id)

    # Redo: the same prompt and size, another seed, and again a keyframe.
    redo = keyframes.keyframe_redo(job=keyframe, acting_user=personas.bob)
    assert redo.is_keyframe and redo.prompt == PROMPT and redo.params["seed"] != keyframe.params["seed"]
    assert (redo.params["width"], redo.params["num_frames"]) == (128, 1)

    # Refused before anything is written: a clip is no keyframe to animate, a keyframe no clip to
    # continue, another license's keyframe is not this one's.
    assert _refused_on("animate_keyframe", active_license, personas.bob,
                       {**CLIP, "animate_keyframe": str(clip.id)}).message == NOT_ANIMATABLE
    _refused_on("continue_from", active_license, personas.bob, {**CLIP, "continue_from": str(still.id)})
    other_license = make_license(personas, project="Harbour Lights")
    _refused_on("animate_keyframe", other_license, personas.bob, {**CLIP, "animate_keyframe": str(still.id)})
    _refused_on("keyframe", active_license, personas.bob, {**STILL, "keyframe": True,
                                                           "animate_keyframe": str(still.id)})
    assert _refused_on("num_frames", active_license, personas.bob,
                       {**STILL, **CLIP, "keyframe": True}).message == ("A keyframe is one still: num_frames does "
                                                                        "not apply to it.")

    # Once Alice revokes, the keyframe is animated no more.
    consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    jobs = RenderJob.objects.count()
    with pytest.raises(gate.ConsentRefused) as refusal:
        keyframes.keyframe_animate(job=keyframe, acting_user=personas.bob, params=CLIP)
    assert refusal.value.decision.reason == gate.Reason.REVOKED
    assert RenderJob.objects.count() == jobs
    assert audit_chain_verify().ok


def test_an_animatediff_keyframe_is_the_image_models_picture_and_animating_it_needs_image_to_video(
        personas, active_license, tiny_model, settings):
    settings.BESPOKE_MODEL_IMAGE_TO_VIDEO = None
    keyframe = _keyframe(active_license, personas.bob)
    assert _verify_json(keyframe.output)["manifest"]["state"] == "trusted"

    # The loaded AnimateDiff pipeline with its motion modules passed over is SD 1.5's image model.
    family = family_for("animatediff-sd15")
    spec = family.tiny_spec(tiny_model)
    still_settings = RenderSettings(prompt=PROMPT, negative_prompt="", num_frames=1, width=128, height=128, steps=3,
                               guidance_scale=7.5, seed=5)
    still = family.render_keyframe(pipeline_cache.get(spec), still_settings)
    image_pipe = load_image_pipeline(spec, dtype=torch.float32)
    expected = image_pipe(prompt=PROMPT, height=128, width=128, num_inference_steps=3, guidance_scale=7.5,
                          generator=torch.Generator(device="cpu").manual_seed(5), output_type="np").images
    assert still.shape == (1, 128, 128, 3)
    assert np.abs(still.astype(int) - (np.clip(expected, 0, 1) * 255).round().astype(int)).max() <= 1

    jobs = RenderJob.objects.count()
    with pytest.raises(ValidationFailed) as refusal:
        keyframes.keyframe_animate(job=keyframe, acting_user=personas.bob, params=CLIP)
    assert refusal.value.field == "animate_keyframe"
    assert refusal.value.message.startswith("This deployment's model (animatediff-sd15) cannot animate a keyframe")
    assert RenderJob.objects.count() == jobs


def test_bob_approves_or_redoes_a_keyframe_on_the_renders_page_and_through_the_api_charlie_gets_404(
        personas, active_license, tiny_wan):
    keyframe = _keyframe(active_license, personas.bob)
    bob, alice, charlie = (Client() for _ in range(3))
    bob.force_login(personas.bob)
    alice.force_login(personas.alice)
    charlie.force_login(personas.charlie)
    image = f'{reverse("portal-render-download", kwargs={"job_id": keyframe.id})}?inline=1'
    page = bob.get(reverse("portal-renders")).content.decode()
    assert re.search(rf'<img src="{re.escape(image)}"', page)
    assert 'value="animate"' in page and 'value="redo"' in page
    shown = bob.get(image)
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
    # Alice sees her likeness's keyframe, but the decision is the producer's.
    talent_page = alice.get(reverse("portal-renders")).content.decode()
    assert image in talent_page and 'value="animate"' not in talent_page

    decide = reverse("portal-render-request", kwargs={"license_id": active_license.id})
    jobs = RenderJob.objects.count()
    for outsider in (charlie, alice):
        assert outsider.post(decide, {"keyframe_job": keyframe.id, "keyframe_decision": "animate"}).status_code == 404
    assert RenderJob.objects.count() == jobs

    animated = bob.post(decide, {"keyframe_job": keyframe.id, "keyframe_decision": "animate"}, follow=True)
    assert "Animating the keyframe" in animated.content.decode()
    clip = RenderJob.objects.get(params__animate_keyframe=str(keyframe.output.id))
    assert not clip.is_keyframe and clip.requested_by == personas.bob
    redone = bob.post(decide, {"keyframe_job": keyframe.id, "keyframe_decision": "redo"}, follow=True)
    assert "Making another keyframe" in redone.content.decode()
    assert RenderJob.objects.filter(params__keyframe=True).count() == 2

    api_bob, api_charlie = APIClient(), APIClient()
    api_bob.force_login(personas.bob)
    api_charlie.force_login(personas.charlie)
    for operation in ("animate", "redo"):
        url = f"/api/v1/renders/{keyframe.id}/{operation}/"
        assert api_charlie.post(url, {}, format="json").status_code == 404
        created = api_bob.post(url, {"params": CLIP} if operation == "animate" else {}, format="json")
        assert created.status_code == 201, created.content
        assert created.json()["params"].get("animate_keyframe" if operation == "animate" else "keyframe")
    not_a_keyframe = api_bob.post(f"/api/v1/renders/{clip.id}/redo/", {}, format="json")
    assert not_a_keyframe.status_code == 409 and not_a_keyframe.json()["message"] == "This render is a clip, not a keyframe."
