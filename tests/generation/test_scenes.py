"""Scenes: one render under several licenses, each role under its own, with the personas.

Alice plays the lead under her interactive license; Tomas, a second talent of Northlight,
plays the friend under his. Jobs run here, synchronously, through the service a worker runs.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.files.storage import default_storage
from django.db import transaction

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from bespoke.synthetic_faces import synthetic_face_photos
from consent import gate, services as consent
from consent.likeness import likeness_model_register
from consent.models import LicenseUse, LikenessLicense, UseApproval
from core.errors import NotAllowed, ValidationFailed
from generation import queue
from generation.models import RenderCast, RenderJob, RenderOutput
from generation.pipeline.adapters import likeness_adapter, likeness_adapters
from generation.pipeline.loading import ModelSpec, load_image_pipeline, pipeline_cache
from generation.pipeline.rendering import RenderSettings, render_frames
from generation.pipeline.training import TrainingSettings, decode_png, train_dreambooth_lora
from generation.services import render
from generation.services.scenes import CastMember, scene_render_prioritise, scene_render_request
from generation.tracing import media_verify
from tests.conftest import SMALL_RENDER, make_license
from tests.publishing import signed_clip

PROMPT = "sks person and a friend walking along a harbour at dusk"
STORY = str(uuid.uuid4())
REVOKED = "The talent revoked this license."


@pytest.fixture
def tomas(personas, django_user_model):  # type: ignore[no-untyped-def]
    """The personas with Tomas, a second talent of Northlight, in Alice's place."""
    user = django_user_model.objects.create_user(username="tomas", password="pw-tomastomas")
    talent = consent.talent_enrol(user=user, display_name="Tomas Tal", acting_user=user, invited_by=personas.studio)
    return replace(personas, alice=user, talent=talent)


@pytest.fixture
def licenses(personas, tomas):  # type: ignore[no-untyped-def]
    lead = make_license(personas, interactive=True, allows_likeness_model=True)
    friend = make_license(tomas, interactive=True, allows_likeness_model=True)
    return {"lead": lead, "friend": friend}


def _cast(licenses, **models: str) -> list[CastMember]:  # type: ignore[no-untyped-def]
    return [CastMember(role=role, license_id=str(license.id), likeness_model_id=models.get(role))
            for role, license in licenses.items()]


def _request(licenses, user, **kwargs) -> RenderJob:  # type: ignore[no-untyped-def]
    kwargs = {"cast": _cast(licenses), "prompt": PROMPT, "story_id": STORY, "params": SMALL_RENDER, **kwargs}
    return scene_render_request(acting_user=user, **kwargs)


def _actions(job: RenderJob) -> list[str]:
    return list(AuditEvent.objects.filter(subject=job.audit_subject).order_by("seq").values_list("action", flat=True))


def _spec(root: Path) -> ModelSpec:
    return ModelSpec(base=root / "base", motion_adapter=root / "motion_adapter", device="cpu")


@pytest.fixture(scope="module")
def two_loras(tiny_model_root):  # type: ignore[no-untyped-def]
    """Two small LoRAs, each trained on other synthetic photos."""
    from consent.uploads import prepare_reference_photo

    loras = []
    for seed in (11, 23):
        pipe = load_image_pipeline(_spec(tiny_model_root), dtype=torch.float32)  # training leaves its adapter on it
        photos = [decode_png(prepare_reference_photo(data, filename="a.jpg", resolution=64, max_bytes=10**7,
                                                     max_pixels=10**7, min_side=64).png)
                  for data in synthetic_face_photos(2, seed=seed)]
        loras.append(train_dreambooth_lora(pipe, photos, TrainingSettings(
            instance_prompt="a photo of sks person", class_prompt="a photo of person", steps=8, rank=2, alpha=4,
            learning_rate=5e-3, resolution=64, prior_preservation=False, seed=seed)).weights)
    return loras


# --- the pipeline -----------------------------------------------------------------------------------------

def test_two_loras_at_once_change_the_frames_and_are_both_unloaded_after(two_loras, tiny_model_root):
    pipe = pipeline_cache.get(_spec(tiny_model_root)).pipe
    settings = RenderSettings(prompt="a photo of sks person smiling", negative_prompt="", num_frames=2, width=64,
                              height=64, steps=3, guidance_scale=7.5, seed=3)
    base = render_frames(pipe, settings)
    with likeness_adapter(pipe, two_loras[0], 1.0):
        first_alone = render_frames(pipe, settings)
    with likeness_adapters(pipe, [(two_loras[0], 1.0), (two_loras[1], 1.0)]):
        both = render_frames(pipe, settings)
    assert not np.array_equal(both, base)
    assert not np.array_equal(both, first_alone)
    assert np.array_equal(render_frames(pipe, settings), base), "every adapter is unloaded after the job"
    assert not pipe.get_list_adapters() or not any(pipe.get_list_adapters().values())


# --- request ------------------------------------------------------------------------------------------------

def test_a_scene_is_requested_with_its_cast_in_one_transaction(personas, licenses, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = _request(licenses, personas.bob, seconds=1.5, params={"width": 128, "height": 128, "fps": 4})
    assert (job.status, job.interactive, str(job.story_id), job.speculative) == ("queued", True, STORY, False)
    assert job.params["num_frames"] == 6  # 1.5 s at 4 frames a second
    assert dict(job.cast.values_list("role", "license_id")) == {role: lic.id for role, lic in licenses.items()}
    assert len(callbacks) == 1
    requested = AuditEvent.objects.get(subject=job.audit_subject, action="render.requested")
    assert f'"cast":{{"friend":"{licenses["friend"].id}","lead":"{licenses["lead"].id}"}}' in requested.body
    assert f'"story":"{STORY}"' in requested.body and '"speculative":false' in requested.body


@pytest.mark.parametrize("role", ["lead", "friend"])
def test_a_refusal_of_either_license_at_request_creates_nothing_and_names_the_role(personas, licenses, role):
    consent.license_revoke(license=licenses[role], reason="Withdrawn.", acting_user=licenses[role].talent.user)
    before = AuditEvent.objects.count()
    with pytest.raises(gate.ConsentRefused) as refused:
        _request(licenses, personas.bob)
    assert refused.value.message == f"role {role}: {REVOKED}"
    assert refused.value.decision.reason == gate.Reason.REVOKED
    assert not RenderJob.objects.exists() and not RenderCast.objects.exists()
    assert list(AuditEvent.objects.order_by("pk").values_list("action", flat=True)[before:]) == ["consent.gate_refused"]


@pytest.mark.parametrize("cast, seconds, field", [
    ([], None, "cast"),
    ([CastMember("lead", "L1"), CastMember("lead", "L2")], None, "cast"),
    ([CastMember("lead", "L1"), CastMember("friend", "L1")], None, "cast"),
    ([CastMember("the lead", "L1")], None, "cast"),
    ([CastMember("lead", "not-a-license")], None, "cast"),
    ([CastMember("lead", "L1", likeness_model_id="not-a-model")], None, "cast"),
    ([CastMember("lead", "L1")], 60, "seconds"),
    ([CastMember("lead", "L1")], -1, "seconds"),
])
def test_bad_input_is_refused_clearly_before_anything_is_written(personas, licenses, cast, seconds, field):
    ids = {"L1": str(licenses["lead"].id), "L2": str(licenses["friend"].id)}
    cast = [replace(member, license_id=ids.get(member.license_id, member.license_id)) for member in cast]
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        _request(licenses, personas.bob, cast=cast, seconds=seconds, params={"fps": 4})
    assert refused.value.field == field and refused.value.message
    assert not RenderJob.objects.exists() and AuditEvent.objects.count() == before


def test_a_requester_who_is_neither_the_viewer_nor_a_producer_of_the_licensee_gets_not_found(personas, licenses):
    for outsider in (personas.charlie, personas.alice, personas.dana):
        with pytest.raises(NotAllowed) as refused:
            _request(licenses, outsider)
        assert refused.value.code == "not_found"
    with pytest.raises(NotAllowed) as refused:
        _request(licenses, personas.bob, cast=[CastMember("lead", str(licenses["lead"].id)),
                                               CastMember("friend", str(uuid.uuid4()))])  # no such license
    assert refused.value.code == "not_found"
    assert not RenderJob.objects.exists()


def test_licenses_of_two_different_licensees_are_refused(personas, licenses, django_user_model):
    hal = django_user_model.objects.create_user(username="hal", password="pw-hal-legal")
    consent.membership_add(organization=personas.other_studio, user=hal, role="legal", acting_user=hal)
    theirs = make_license(replace(personas, studio=personas.other_studio, erin=hal), offered=False, signed=False,
                          countersigned=False, interactive=True)
    for user in (personas.bob, personas.charlie):
        with pytest.raises(NotAllowed) as refused:
            _request({"lead": licenses["lead"], "friend": theirs}, user)
        assert refused.value.code == "not_found"
    assert not RenderJob.objects.exists()


def test_a_scene_waits_for_the_one_approval_its_cast_asks_and_two_are_refused(personas, tomas):
    lead = make_license(personas, interactive=True)
    friend = make_license(tomas, interactive=True, requires_use_approval=True)
    job = _request({"lead": lead, "friend": friend}, personas.bob)
    assert job.status == RenderJob.Status.AWAITING_APPROVAL
    assert UseApproval.objects.get(job_ref=str(job.id)).license_id == friend.id
    LikenessLicense.objects.filter(pk=lead.pk).update(requires_use_approval=True)
    with pytest.raises(ValidationFailed) as refused:
        _request({"lead": lead, "friend": friend}, personas.bob)
    assert (refused.value.code, refused.value.field) == ("use_approval_required", "cast")
    assert RenderJob.objects.count() == 1


# --- publication ----------------------------------------------------------------------------------------------

def _register(license, weights: bytes) -> str:  # type: ignore[no-untyped-def]
    with transaction.atomic():
        return str(likeness_model_register(license_id=str(license.id), training_ref="t", weights=weights, rank=2,
                                           alpha=4, instance_prompt="a photo of sks person", actor="system:test").id)


def test_a_two_license_scene_is_published_with_a_use_of_each_license_and_both_consents_in_its_manifest(
        personas, licenses, tiny_model, two_loras):
    models = {role: _register(licenses[role], weights) for role, weights in zip(("lead", "friend"), two_loras)}
    job = scene_render_request(cast=_cast(licenses, **models), prompt=PROMPT, story_id=STORY, params=SMALL_RENDER,
                               acting_user=personas.bob)
    job = render.render_job_execute(job_id=str(job.id), worker="w1")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    output = RenderOutput.objects.get(job=job)
    uses = {str(use.license_id): use.output_ref for use in LicenseUse.objects.all()}
    assert uses == {str(licenses["lead"].id): str(output.id), str(licenses["friend"].id): str(output.id)}

    manifest = media_verify(path=Path(default_storage.path(output.file.name))).manifest
    assert manifest.state == "trusted"
    assert manifest.consent.license_id == str(licenses["lead"].id)  # what one-license readers see
    assert [ref.license_id for ref in manifest.consents] == [str(licenses["lead"].id), str(licenses["friend"].id)]
    assert {ref.license_text_sha256 for ref in manifest.consents} == {lic.text_sha256 for lic in licenses.values()}
    assert [ref["license_id"] for ref in output.compliance["consents"]] == [str(lic.id) for lic in licenses.values()]
    assert len(output.compliance["models"]["likeness_model_sha256s"]) == 2
    assert _actions(job) == ["render.requested", "render.claimed", "render.published"]
    assert audit_chain_verify().ok


def test_a_refusal_of_the_second_license_at_publication_records_no_use_of_the_first(personas, licenses, settings):
    job = _request(licenses, personas.bob)
    claimed = render.render_job_claim(job_id=str(job.id), worker="w1")
    clip = signed_clip(Path(settings.MEDIA_ROOT).parent / "work", license_id=str(licenses["lead"].id))
    last = max(licenses.values(), key=lambda lic: str(lic.id))  # locked and checked last
    consent.license_revoke(license=last, reason="Withdrawn.", acting_user=last.talent.user)
    assert render.render_job_publish(job_id=str(job.id), attempt=claimed.attempt, output_id=str(uuid.uuid4()),
                                     signed=clip, model_sha256="0" * 64, disclosure={}, watermark_id=9) is None
    job.refresh_from_db()
    assert (job.status, job.outcome_code) == (RenderJob.Status.CANCELLED, "license_revoked")
    assert job.outcome_message.endswith(REVOKED) and job.outcome_message.startswith("role ")
    assert not RenderOutput.objects.exists() and not LicenseUse.objects.exists()


# --- revocation and cancellation ---------------------------------------------------------------------------------

def test_revoking_the_second_license_cancels_a_queued_scene_at_once(personas, licenses, tomas,
                                                                   django_capture_on_commit_callbacks):
    job = _request(licenses, personas.bob)
    plain = render.render_job_request(license_id=str(licenses["lead"].id), prompt=PROMPT, params=SMALL_RENDER,
                                      acting_user=personas.bob)
    with django_capture_on_commit_callbacks(execute=True):  # the revocation's signal is sent once it commits
        consent.license_revoke(license=licenses["friend"], reason="Withdrawn.", acting_user=tomas.alice)
    job.refresh_from_db()
    plain.refresh_from_db()
    assert (job.status, job.outcome_code, job.outcome_message) == ("cancelled", "license_revoked",
                                                                   "role friend: The talent revoked the license.")
    assert plain.status == RenderJob.Status.QUEUED  # not under the revoked license


def test_revoking_the_second_license_stops_a_running_scene_at_its_next_check(personas, licenses, tomas, tiny_model,
                                                                              settings, monkeypatch):
    settings.BESPOKE_GATE_CHECK_EVERY_STEPS = 2
    job = _request(licenses, personas.bob, params={**SMALL_RENDER, "steps": 8})
    real_render = render.render_frames

    def render_and_revoke_at_step_3(pipe, render_settings, on_step):  # type: ignore[no-untyped-def]
        def hook(done: int, total: int) -> None:
            if done == 3:
                consent.license_revoke(license=licenses["friend"], reason="Withdrawn.", acting_user=tomas.alice)
            on_step(done, total)
        return real_render(pipe, render_settings, on_step=hook)

    monkeypatch.setattr(render, "render_frames", render_and_revoke_at_step_3)
    job = render.render_job_execute(job_id=str(job.id), worker="w1")
    assert (job.status, job.outcome_code, job.progress_step) == ("cancelled", "license_revoked", 4)
    assert job.outcome_message == f"role friend: {REVOKED}"
    assert not RenderOutput.objects.exists() and not LicenseUse.objects.exists()


def test_whoever_asked_for_a_scene_or_legal_may_cancel_it_and_no_one_else(personas, licenses):
    job = _request(licenses, personas.bob)
    with pytest.raises(NotAllowed):
        render.render_job_cancel(job=job, acting_user=personas.charlie)
    render.render_job_cancel(job=job, acting_user=personas.bob)
    job.refresh_from_db()
    assert job.status == RenderJob.Status.CANCELLED


# --- priority --------------------------------------------------------------------------------------------------

@pytest.fixture
def sent(monkeypatch, settings) -> list[tuple[str, list, object]]:  # type: ignore[no-untyped-def]
    """What job_enqueue hands the broker, at the Redis transport's numbers (lower is sooner)."""
    from bespoke.celery import app

    settings.BESPOKE_JOB_PRIORITIES = {"normal": 0, "speculative": 6}
    messages: list[tuple[str, list, object]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), **options: messages.append(
        (name, list(args), options.get("priority"))))
    return messages


def test_a_speculative_scene_is_sent_later_in_line_and_sent_again_at_normal_priority_once_chosen(
        personas, licenses, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        chosen = _request(licenses, personas.bob)
        prefetched = _request(licenses, personas.bob, speculative=True)
    assert sent == [(queue.RENDER_JOB_RUN, [str(chosen.id)], 0), (queue.RENDER_JOB_RUN, [str(prefetched.id)], 6)]

    with django_capture_on_commit_callbacks(execute=True):
        scene_render_prioritise(job=prefetched)
    prefetched.refresh_from_db()
    assert not prefetched.speculative
    assert sent[-1] == (queue.RENDER_JOB_RUN, [str(prefetched.id)], 0)
    assert _actions(prefetched) == ["render.requested", "render.prioritised"]

    with django_capture_on_commit_callbacks(execute=True):
        scene_render_prioritise(job=prefetched)  # chosen already: nothing more to send
    assert len(sent) == 3


def test_a_prioritised_scene_runs_once_whichever_message_comes_first(personas, licenses, sent, tiny_model,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = _request(licenses, personas.bob, speculative=True)
    with django_capture_on_commit_callbacks(execute=True):
        scene_render_prioritise(job=job)
    assert [priority for *_, priority in sent] == [6, 0]
    assert render.render_job_execute(job_id=str(job.id), worker="w1").status == RenderJob.Status.SUCCEEDED
    assert render.render_job_execute(job_id=str(job.id), worker="w2") is None  # the second message does no work
    assert RenderOutput.objects.count() == 1 and LicenseUse.objects.count() == 2


def test_only_whoever_asked_may_prioritise_a_scene(personas, licenses):
    job = _request(licenses, personas.bob, speculative=True)
    with pytest.raises(NotAllowed):
        scene_render_prioritise(job=job, acting_user=personas.charlie)
    job.refresh_from_db()
    assert job.speculative
