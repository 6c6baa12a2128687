"""The lease machinery shared by render and training jobs (invariant 3).

A claim is a locked compare-and-set that bumps `attempt`, the fencing token. Every later
write by a worker names its attempt and is refused once the job has moved on, so a
stale worker can neither report progress nor publish. The reaper requeues jobs whose
worker vanished and fails those out of attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.actors import SYSTEM_REAPER, SYSTEM_WORKER
from audit.services import audit_append
from core.locking import Rank, lock_rows
from generation.models import LeasedJob

Job = TypeVar("Job", bound=LeasedJob)
Enqueue = Callable[[str], None]


class RenderStopped(Exception):
    """The job must stop now; `code` says why (a gate reason, or `cancelled`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LeaseLost(RenderStopped):
    """Another attempt owns the job: this worker must not write anything more."""

    def __init__(self) -> None:
        super().__init__("lease_lost", "the job's lease passed to another attempt")


def enqueue_on_commit(enqueue: Enqueue, job_id: object) -> None:
    job_ref = str(job_id)

    def publish_job() -> None:
        enqueue(job_ref)

    # robust: the job is already committed; if the broker is down the reaper republishes it.
    transaction.on_commit(publish_job, robust=True)


def lease_until() -> object:
    return timezone.now() + timedelta(seconds=settings.BESPOKE_RENDER_LEASE_SECONDS)


def job_finish(job: LeasedJob, status: str, code: str, message: str, actor: str) -> None:
    job.status = status
    job.outcome_code = code
    job.outcome_message = message
    job.finished_at = timezone.now()
    job.lease_expires_at = None
    job.save(update_fields=["status", "outcome_code", "outcome_message", "finished_at", "lease_expires_at", "updated_at"])
    audit_append(action=f"{job.AUDIT_NAME}.{status}", actor=actor, subject=job.audit_subject,
                 data={"reason": code, "attempt": job.attempt})


def locked_job(model: type[Job], job_id: object) -> Job | None:
    """The job row, locked in the lock order (core.locking); None when there is no such job."""
    rows = lock_rows(model.objects.select_for_update().filter(pk=job_id), Rank.JOB)
    return rows[0] if rows else None


def _locked_existing_job(model: type[Job], job_id: object) -> Job:
    job = locked_job(model, job_id)
    if job is None:
        raise model.DoesNotExist(f"no job {job_id}")
    return job


def locked_own_job(model: type[Job], job_id: str, attempt: int) -> Job:
    job = _locked_existing_job(model, job_id)
    if job.status != LeasedJob.Status.RUNNING or job.attempt != attempt:
        raise LeaseLost()
    return job


def job_claim(model: type[Job], *, job_id: str, worker: str, admit: Callable[[Job], tuple[str, str] | None]) -> Job | None:
    """Take the job for this worker, or return None when there is nothing to do.

    Only a queued job, or a running one whose lease expired, can be claimed; a duplicate
    delivery of a job that is running or finished does no work. `admit` runs in the
    claiming transaction and returns (code, message) to cancel the job instead.
    """
    now = timezone.now()
    with transaction.atomic():
        job = locked_job(model, job_id)
        if job is None:
            return None
        expired = job.status == LeasedJob.Status.RUNNING and job.lease_expires_at is not None and job.lease_expires_at < now
        if job.status != LeasedJob.Status.QUEUED and not expired:
            return None
        if job.attempt >= job.max_attempts:
            job_finish(job, LeasedJob.Status.FAILED, "attempts_exhausted", "The job failed on every attempt.", SYSTEM_WORKER)
            return None
        job.attempt += 1
        job.status = LeasedJob.Status.RUNNING
        job.worker = worker
        job.lease_expires_at = lease_until()
        job.started_at = job.started_at or now
        job.progress_step = 0
        job.save(update_fields=["attempt", "status", "worker", "lease_expires_at", "started_at", "progress_step", "updated_at"])
        audit_append(action=f"{job.AUDIT_NAME}.claimed", actor=SYSTEM_WORKER, subject=job.audit_subject,
                     data={"attempt": job.attempt, "worker": worker})
        refusal = admit(job)
        if refusal is not None:
            job_finish(job, LeasedJob.Status.CANCELLED, refusal[0], refusal[1], SYSTEM_WORKER)
            return None
    return job


def job_progress(model: type[Job], *, job_id: str, attempt: int, step: int, total: int, **fields: object) -> None:
    """Record progress and renew the lease in one fenced UPDATE (cheap enough for every step)."""
    updated = model.objects.filter(pk=job_id, status=LeasedJob.Status.RUNNING, attempt=attempt).update(
        progress_step=step, progress_total=total, lease_expires_at=lease_until(), updated_at=timezone.now(), **fields)
    if not updated:
        raise LeaseLost()


def job_checkpoint(model: type[Job], *, job_id: str, attempt: int, step: int, total: int,
                   still_allowed: Callable[[Job], tuple[str, str] | None], **fields: object) -> None:
    """Record progress, renew the lease and ask again whether the job may go on; raise
    RenderStopped when it was cancelled, is no longer allowed, or its lease passed on."""
    with transaction.atomic():
        job = locked_own_job(model, job_id, attempt)
        job.progress_step, job.progress_total = step, total
        job.lease_expires_at = lease_until()
        for name, value in fields.items():
            setattr(job, name, value)
        job.save(update_fields=["progress_step", "progress_total", "lease_expires_at", "updated_at", *fields])
        if job.cancel_requested:
            job_finish(job, LeasedJob.Status.CANCELLED, "cancelled", "Cancelled by request.", SYSTEM_WORKER)
            stop = RenderStopped("cancelled", "cancelled by request")
        else:
            refusal = still_allowed(job)
            if refusal is None:
                return
            job_finish(job, LeasedJob.Status.CANCELLED, refusal[0], refusal[1], SYSTEM_WORKER)
            stop = RenderStopped(*refusal)
    raise stop


def job_cancel(job: Job, *, actor: str) -> Job:
    """Cancel on request: a queued job stops now, a running one at its next step."""
    from core.errors import InvalidTransition

    with transaction.atomic():
        job = _locked_existing_job(type(job), job.pk)
        if job.status in LeasedJob.TERMINAL:
            raise InvalidTransition(f"This job already ended ({job.status}).")
        if job.status in (LeasedJob.Status.QUEUED, LeasedJob.Status.AWAITING_APPROVAL):
            job_finish(job, LeasedJob.Status.CANCELLED, "cancelled", "Cancelled by request.", actor)
        else:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested", "updated_at"])
            audit_append(action=f"{job.AUDIT_NAME}.cancel_requested", actor=actor, subject=job.audit_subject)
    return job


def job_fail_attempt(model: type[Job], *, job_id: str, attempt: int, code: str, message: str, enqueue: Enqueue,
                     still_allowed: Callable[[Job], tuple[str, str] | None] | None = None) -> None:
    """An attempt crashed: retry it while attempts remain, otherwise fail the job. When
    ``still_allowed`` refuses it now (the consent ended while it ran, and took with it what the
    attempt was reading, a likeness model say), it is cancelled with that reason instead."""
    with transaction.atomic():
        try:
            job = locked_own_job(model, job_id, attempt)
        except LeaseLost:
            return
        audit_append(action=f"{job.AUDIT_NAME}.attempt_failed", actor=SYSTEM_WORKER, subject=job.audit_subject,
                     data={"attempt": attempt, "reason": code})
        refusal = still_allowed(job) if still_allowed is not None else None
        if refusal is not None:
            job_finish(job, LeasedJob.Status.CANCELLED, refusal[0], refusal[1], SYSTEM_WORKER)
            return
        if job.attempt >= job.max_attempts:
            job_finish(job, LeasedJob.Status.FAILED, code, message, SYSTEM_WORKER)
            return
        job.status = LeasedJob.Status.QUEUED
        job.lease_expires_at = None
        job.save(update_fields=["status", "lease_expires_at", "updated_at"])
        enqueue_on_commit(enqueue, job.id)


def jobs_reap(model: type[Job], *, enqueue: Enqueue) -> dict[str, int]:
    """Requeue jobs whose worker vanished (expired lease), fail those out of attempts,
    and republish queued jobs whose message may have been lost."""
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "republished": 0}
    expired_ids = list(model.objects.filter(status=LeasedJob.Status.RUNNING, lease_expires_at__lt=now)
                       .values_list("id", flat=True))
    for job_id in expired_ids:
        with transaction.atomic():
            job = locked_job(model, job_id)
            if job is None or job.status != LeasedJob.Status.RUNNING or job.lease_expires_at is None \
                    or job.lease_expires_at >= now:
                continue
            if job.attempt >= job.max_attempts:
                job_finish(job, LeasedJob.Status.FAILED, "attempts_exhausted",
                           "The worker stopped responding on the last attempt.", SYSTEM_REAPER)
                counts["failed"] += 1
                continue
            job.status = LeasedJob.Status.QUEUED
            job.lease_expires_at = None
            job.save(update_fields=["status", "lease_expires_at", "updated_at"])
            audit_append(action=f"{job.AUDIT_NAME}.requeued", actor=SYSTEM_REAPER, subject=job.audit_subject,
                         data={"attempt": job.attempt, "reason": "lease_expired"})
            enqueue_on_commit(enqueue, job.id)
            counts["requeued"] += 1
    stale = now - timedelta(seconds=settings.BESPOKE_REQUEUE_QUEUED_AFTER_SECONDS)
    for job_id in model.objects.filter(status=LeasedJob.Status.QUEUED, updated_at__lt=stale).values_list("id", flat=True):
        with transaction.atomic():
            if model.objects.filter(pk=job_id, status=LeasedJob.Status.QUEUED).update(updated_at=now):
                enqueue_on_commit(enqueue, job_id)
                counts["republished"] += 1
    return counts
