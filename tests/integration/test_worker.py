"""Invariants 1 and 3 with real processes: PostgreSQL, Redis and `celery worker` subprocesses."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from consent import services as consent
from consent.models import LicenseUse
from generation.services import render as services
from generation.models import RenderJob, RenderOutput
from generation.tasks import render_job_run
from generation.tracing import media_verify

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LONG_RENDER = {"num_frames": 8, "width": 128, "height": 128, "steps": 100, "fps": 8}
PROMPT = "sks person walking through a market at dusk"


def _wait(job: RenderJob, condition, timeout: float, what: str) -> RenderJob:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if condition(job):
            return job
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {job.status} step {job.progress_step}"
        time.sleep(0.05)


def _files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _request(license, personas, params=LONG_RENDER) -> RenderJob:  # type: ignore[no-untyped-def]
    return services.render_job_request(license_id=str(license.id), prompt=PROMPT, params=params, acting_user=personas.bob)


def test_revoking_during_a_render_cancels_it_within_a_few_steps(personas, active_license, start_worker, settings):
    start_worker("solo")
    job = _request(active_license, personas)
    job = _wait(job, lambda j: j.progress_step >= 2, 120, "the render to start")
    step_at_revocation = job.progress_step
    consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    job = _wait(job, lambda j: j.status in RenderJob.TERMINAL, 60, "the render to stop")

    assert (job.status, job.outcome_code) == (RenderJob.Status.CANCELLED, "license_revoked")
    assert job.progress_step <= step_at_revocation + 3, "the gate is asked every 2 steps"
    assert job.progress_step < LONG_RENDER["steps"]
    assert not RenderOutput.objects.exists() and not LicenseUse.objects.exists()
    assert not _files(settings), "no output file and no manifest may exist"
    cancelled = AuditEvent.objects.get(action="render.cancelled", subject=job.audit_subject)
    assert '"reason":"license_revoked"' in cancelled.body
    assert audit_chain_verify().ok


def test_a_killed_worker_loses_no_job_and_the_next_one_publishes_exactly_once(personas, active_license, start_worker,
                                                                            settings):
    first = start_worker("first")
    job = _request(active_license, personas)
    _wait(job, lambda j: j.progress_step >= 3, 120, "the render to start")
    first.kill()  # SIGKILL to the worker and its pool child, mid-render
    job.refresh_from_db()
    assert job.status == RenderJob.Status.RUNNING and job.attempt == 1
    while timezone.now() <= job.lease_expires_at:
        time.sleep(0.2)
    assert services.render_jobs_reap()["requeued"] == 1

    start_worker("second")
    job = _wait(job, lambda j: j.status in RenderJob.TERMINAL, 120, "the second worker to finish")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    assert job.attempt == 2
    assert RenderOutput.objects.filter(job=job).count() == 1
    assert len(_files(settings)) == 1
    assert LicenseUse.objects.filter(license=active_license).count() == 1
    actions = list(AuditEvent.objects.filter(subject=job.audit_subject).order_by("seq").values_list("action", flat=True))
    assert actions == ["render.requested", "render.claimed", "render.requeued", "render.claimed", "render.published"]
    assert media_verify(path=_files(settings)[0]).manifest.is_trusted


def test_two_workers_given_the_same_job_render_it_once(personas, active_license, start_worker, settings):
    one, two = start_worker("one"), start_worker("two")
    job = _request(active_license, personas, params={**LONG_RENDER, "steps": 60})
    render_job_run.delay(str(job.id))  # a duplicate delivery of the same job
    job = _wait(job, lambda j: j.status in RenderJob.TERMINAL, 120, "the render to finish")
    time.sleep(1)

    assert job.status == RenderJob.Status.SUCCEEDED and job.attempt == 1
    assert AuditEvent.objects.filter(action="render.claimed", subject=job.audit_subject).count() == 1
    assert RenderOutput.objects.filter(job=job).count() == 1 and len(_files(settings)) == 1
    logs = one.output() + two.output()
    assert logs.count("received") == 2, logs
    assert "nothing to do" in logs
