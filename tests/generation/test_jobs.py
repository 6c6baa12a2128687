"""Render jobs: gated requests, claim and fencing, publication, cancellation and the reaper.

These run the real tiny pipeline in-process through the same service a worker runs.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from core.errors import NotAllowed, ValidationFailed
from consent import gate, services as consent
from consent.models import LicenseUse
from generation.services import render as services
from generation.models import RenderJob, RenderOutput, TrainingJob
from generation.tracing import media_verify
from tests.conftest import SMALL_RENDER

pytestmark = pytest.mark.django_db
PROMPT = "sks person walking along a beach at sunset"


def _request(license, user, prompt: str = PROMPT, params: dict | None = None) -> RenderJob:
    return services.render_job_request(license_id=str(license.id), prompt=prompt, params=params or SMALL_RENDER,
                                       acting_user=user)


def _actions(job: RenderJob) -> list[str]:
    return list(AuditEvent.objects.filter(subject=job.audit_subject).order_by("seq").values_list("action", flat=True))


def _stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_request_queues_a_job_and_publishes_it_only_on_commit(personas, active_license, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = _request(active_license, personas.bob)
    assert job.status == RenderJob.Status.QUEUED and job.attempt == 0
    assert len(callbacks) == 1
    assert _actions(job) == ["render.requested"]


def test_a_queued_job_is_sent_to_its_celery_task_by_name(personas, active_license, monkeypatch,
                                                        django_capture_on_commit_callbacks):
    from bespoke.celery import app
    from generation import tasks

    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), *_, **__: sent.append((name, list(args))))
    with django_capture_on_commit_callbacks(execute=True):
        job = _request(active_license, personas.bob)
    assert sent == [(tasks.render_job_run.name, [str(job.id)])]
    assert tasks.render_job_run.name == "generation.tasks.render_job_run"  # the name routed to the gpu queue


@pytest.mark.parametrize("model, fields", [(RenderJob, {"prompt": "p"}), (TrainingJob, {})])
def test_the_database_refuses_an_attempt_beyond_the_last(personas, model, fields):
    job = model.objects.create(license_id=uuid.uuid4(), requested_by=personas.bob, params={}, max_attempts=1, **fields)
    model.objects.filter(pk=job.pk).update(attempt=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=job.pk).update(attempt=2)


def test_a_refused_request_creates_no_job_and_is_audited(personas, active_license, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(gate.ConsentRefused) as refusal:
        _request(active_license, personas.bob, prompt="sks person at an election rally")
    assert refusal.value.decision.reason == gate.Reason.EXCLUDED_CONTENT
    assert not RenderJob.objects.exists() and not callbacks
    assert AuditEvent.objects.filter(action="consent.gate_refused").count() == 1


def test_a_producer_of_another_studio_cannot_request(personas, active_license):
    with pytest.raises(NotAllowed):
        _request(active_license, personas.charlie)
    assert not RenderJob.objects.exists()


def test_bad_parameters_are_refused_before_anything_is_written(personas, active_license):
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed):
        _request(active_license, personas.bob, params={"width": 65})
    with pytest.raises(ValidationFailed):
        _request(active_license, personas.bob, prompt="   ")
    assert not RenderJob.objects.exists() and AuditEvent.objects.count() == before


def test_a_job_renders_labels_signs_and_publishes_once(personas, active_license, tiny_model, settings):
    job = _request(active_license, personas.bob)
    job = services.render_job_execute(job_id=str(job.id), worker="w1")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    assert (job.attempt, job.progress_step, job.progress_total) == (1, 3, 3)
    output = RenderOutput.objects.get(job=job)
    assert default_storage.exists(output.file.name)
    verification = media_verify(path=Path(default_storage.path(output.file.name)))
    assert verification.manifest.state == "trusted"
    assert verification.manifest.output_id == str(output.id)
    assert verification.manifest.consent.license_id == str(active_license.id)
    assert verification.manifest.disclosure["text"] == "AI-generated"
    assert verification.consent.state == "active"
    assert list(LicenseUse.objects.values_list("output_ref", flat=True)) == [str(output.id)]
    assert _actions(job) == ["render.requested", "render.claimed", "render.published"]
    assert audit_chain_verify().ok


def test_a_duplicate_delivery_does_no_work(personas, active_license, tiny_model):
    job = _request(active_license, personas.bob)
    services.render_job_execute(job_id=str(job.id), worker="w1")
    assert services.render_job_execute(job_id=str(job.id), worker="w2") is None
    job.refresh_from_db()
    assert job.attempt == 1 and job.worker == "w1"
    assert _actions(job).count("render.claimed") == 1
    assert RenderOutput.objects.count() == 1


def test_a_stale_worker_whose_lease_was_taken_over_cannot_report_or_publish(personas, active_license, tiny_model, settings):
    job = _request(active_license, personas.bob)
    stale = services.render_job_claim(job_id=str(job.id), worker="stale")
    RenderJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    fresh = services.render_job_claim(job_id=str(job.id), worker="fresh")
    assert (stale.attempt, fresh.attempt) == (1, 2)

    with pytest.raises(services.LeaseLost):
        services.render_job_checkpoint(job_id=str(job.id), attempt=stale.attempt, step=1, total=3, check_consent=True)
    signed = _signed_output(tmp=Path(settings.MEDIA_ROOT).parent / "work", license=active_license)
    with pytest.raises(services.LeaseLost):
        services.render_job_publish(job_id=str(job.id), attempt=stale.attempt, output_id=signed[0], signed=signed[1],
                                    model_sha256="0" * 64, disclosure={}, watermark_id=signed[2])
    assert not RenderOutput.objects.exists() and not _stored_files(settings) and not LicenseUse.objects.exists()
    output = services.render_job_publish(job_id=str(job.id), attempt=fresh.attempt, output_id=signed[0], signed=signed[1],
                                         model_sha256="0" * 64, disclosure={}, watermark_id=signed[2])
    assert output is not None and RenderOutput.objects.count() == 1


def _signed_output(*, tmp: Path, license) -> tuple[str, object, int]:
    import uuid

    import numpy as np

    from generation.pipeline.video import encode_mp4
    from provenance import services as provenance

    tmp.mkdir(parents=True, exist_ok=True)
    output_id = str(uuid.uuid4())
    frames, label = provenance.disclosure_apply(np.full((4, 128, 128, 3), 90, dtype=np.uint8))
    marked, binding = provenance.watermark_apply(frames, watermark_id=7, fps=4)
    encode_mp4(marked, tmp / "plain.mp4", fps=4)
    signed = provenance.output_sign(src=tmp / "plain.mp4", dst=tmp / "signed.mp4", output_id=output_id,
                                    license_id=str(license.id), model_sha256="0" * 64, likeness_model_sha256=None,
                                    label=label, watermark_binding=binding)
    return output_id, signed, binding.watermark_id


def test_revocation_before_publication_means_nothing_is_published(personas, active_license, tiny_model, settings):
    job = _request(active_license, personas.bob)
    claimed = services.render_job_claim(job_id=str(job.id), worker="w1")
    signed = _signed_output(tmp=Path(settings.MEDIA_ROOT).parent / "work", license=active_license)
    revocation = consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    assert revocation.published_outputs == []
    result = services.render_job_publish(job_id=str(job.id), attempt=claimed.attempt, output_id=signed[0],
                                         signed=signed[1], model_sha256="0" * 64, disclosure={}, watermark_id=signed[2])
    job.refresh_from_db()
    assert result is None
    assert (job.status, job.outcome_code) == (RenderJob.Status.CANCELLED, "license_revoked")
    assert not RenderOutput.objects.exists() and not _stored_files(settings) and not LicenseUse.objects.exists()


def test_revocation_during_the_render_stops_it_within_a_few_steps(personas, active_license, tiny_model, settings, monkeypatch):
    settings.BESPOKE_GATE_CHECK_EVERY_STEPS = 2
    job = _request(active_license, personas.bob, params={**SMALL_RENDER, "steps": 12})
    real_render = services.render_frames

    def render_and_revoke_at_step_3(pipe, render_settings, on_step):
        def hook(done: int, total: int) -> None:
            if done == 3:
                consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
            on_step(done, total)
        return real_render(pipe, render_settings, on_step=hook)

    monkeypatch.setattr(services, "render_frames", render_and_revoke_at_step_3)
    job = services.render_job_execute(job_id=str(job.id), worker="w1")
    assert (job.status, job.outcome_code) == (RenderJob.Status.CANCELLED, "license_revoked")
    assert job.progress_step == 4  # the next consent check after the revocation
    assert not RenderOutput.objects.exists() and not _stored_files(settings)
    assert _actions(job)[-2:] == ["consent.gate_refused", "render.cancelled"]
    assert '"reason":"license_revoked"' in AuditEvent.objects.filter(action="render.cancelled").get().body


def test_a_queued_job_cancels_at_once_and_a_running_one_at_its_next_check(personas, active_license):
    queued = _request(active_license, personas.bob)
    services.render_job_cancel(job=queued, acting_user=personas.bob)
    queued.refresh_from_db()
    assert queued.status == RenderJob.Status.CANCELLED

    running = _request(active_license, personas.bob)
    claimed = services.render_job_claim(job_id=str(running.id), worker="w1")
    services.render_job_cancel(job=running, acting_user=personas.bob)
    with pytest.raises(services.RenderStopped):
        services.render_job_checkpoint(job_id=str(running.id), attempt=claimed.attempt, step=1, total=3, check_consent=True)
    running.refresh_from_db()
    assert (running.status, running.outcome_code) == (RenderJob.Status.CANCELLED, "cancelled")


def test_the_reaper_requeues_an_abandoned_job_and_fails_one_out_of_attempts(personas, active_license,
                                                                           django_capture_on_commit_callbacks):
    abandoned = _request(active_license, personas.bob)
    services.render_job_claim(job_id=str(abandoned.id), worker="dead")
    exhausted = _request(active_license, personas.bob)
    services.render_job_claim(job_id=str(exhausted.id), worker="dead")
    RenderJob.objects.filter(pk=exhausted.pk).update(attempt=exhausted.max_attempts)
    RenderJob.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks() as callbacks:
        counts = services.render_jobs_reap()
    assert counts == {"requeued": 1, "failed": 1, "republished": 0}
    assert len(callbacks) == 1
    abandoned.refresh_from_db()
    exhausted.refresh_from_db()
    assert abandoned.status == RenderJob.Status.QUEUED and abandoned.attempt == 1
    assert (exhausted.status, exhausted.outcome_code) == (RenderJob.Status.FAILED, "attempts_exhausted")


def test_the_reaper_republishes_a_job_whose_message_was_lost(personas, active_license, settings,
                                                             django_capture_on_commit_callbacks):
    job = _request(active_license, personas.bob)
    RenderJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks() as callbacks:
        counts = services.render_jobs_reap()
    assert counts["republished"] == 1 and len(callbacks) == 1


def test_a_crashing_render_is_retried_then_failed(personas, active_license, tiny_model, monkeypatch):
    def crash(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(services, "render_frames", crash)
    job = _request(active_license, personas.bob)
    for attempt in range(1, job.max_attempts + 1):
        job = services.render_job_execute(job_id=str(job.id), worker="w1")
        assert job.attempt == attempt
    assert (job.status, job.outcome_code) == (RenderJob.Status.FAILED, "error")
    assert "out of memory" in job.outcome_message
    assert not RenderOutput.objects.exists()


def test_an_attempt_that_crashes_after_a_revocation_is_cancelled_for_it_not_retried(personas, active_license, tiny_model,
                                                                                    monkeypatch):
    """Revoking destroys what a running render reads (its likeness model): the crash that follows is the
    revocation's doing, so the job ends with the gate's reason instead of going back to the queue."""
    def revoke_then_crash(*args, **kwargs):
        consent.license_revoke(license=active_license, reason="no more", acting_user=personas.alice)
        raise FileNotFoundError("the likeness model's file is gone")

    monkeypatch.setattr(services, "render_frames", revoke_then_crash)
    job = services.render_job_execute(job_id=str(_request(active_license, personas.bob).id), worker="w1")
    assert (job.status, job.outcome_code, job.attempt) == (RenderJob.Status.CANCELLED, "license_revoked", 1)
