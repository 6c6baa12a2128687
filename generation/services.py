"""Every write in generation: requesting, claiming, running, publishing and reaping renders.

Invariant 3: the job row is the truth. A claim is a locked compare-and-set that bumps
`attempt`, the fencing token; every later write by a worker names its attempt and does
nothing when the job has moved on, so a stale worker can neither report nor publish.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from audit.actors import SYSTEM_REAPER, SYSTEM_WORKER, user_actor
from audit.services import audit_append
from bespoke.errors import InvalidTransition, NotAllowed
from consent import gate
from generation.models import RenderJob, RenderOutput
from generation.params import RenderParams, prompt_clean, render_params_parse
from generation.pipeline.loading import ModelSpec, pipeline_cache
from generation.pipeline.rendering import RenderSettings, render_frames
from generation.pipeline.video import encode_mp4
from provenance import services as provenance

logger = logging.getLogger(__name__)

MEDIUM_VIDEO = "video"


class RenderStopped(Exception):
    """The render must stop now; `code` says why (a gate reason, or `cancelled`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LeaseLost(RenderStopped):
    """Another attempt owns the job: this worker must not write anything more."""

    def __init__(self) -> None:
        super().__init__("lease_lost", "the job's lease passed to another attempt")


def _enqueue(job_id: str) -> None:
    from generation.tasks import render_job_run

    render_job_run.delay(job_id)


def _enqueue_on_commit(job_id: object) -> None:
    job_ref = str(job_id)

    def publish_job() -> None:
        _enqueue(job_ref)

    # robust: the job is already committed; if the broker is down the reaper republishes it.
    transaction.on_commit(publish_job, robust=True)


def model_spec() -> ModelSpec:
    return ModelSpec(base=settings.BESPOKE_MODEL_BASE, motion_adapter=settings.BESPOKE_MOTION_ADAPTER,
                     device=settings.BESPOKE_DEVICE, threads=settings.BESPOKE_TORCH_THREADS)


def _use(job: RenderJob) -> gate.UseRequest:
    return gate.UseRequest(license_id=str(job.license_id), medium=job.medium, prompt=job.prompt)


def render_job_request(*, license_id: str, prompt: str, negative_prompt: str = "", params: dict | None = None,
                       acting_user: AbstractBaseUser) -> RenderJob:
    """Queue a render under a license; refused requests raise `gate.ConsentRefused` (and are audited)."""
    prompt = prompt_clean(prompt)
    negative_prompt = prompt_clean(negative_prompt, field="negative_prompt", required=False)
    render_params = render_params_parse(params)
    if not gate.requester_is_licensee(user_id=acting_user.pk, license_id=license_id):
        raise NotAllowed("You can only request renders under your own studio's licenses.", code="not_found")
    use = gate.UseRequest(license_id=str(license_id), medium=MEDIUM_VIDEO, prompt=prompt)
    actor = user_actor(acting_user)
    with transaction.atomic():
        decision = gate.check(use=use, stage=gate.Stage.REQUEST, actor=actor, subject=f"license:{license_id}")
        job = None
        if decision.allowed:
            job = RenderJob.objects.create(
                license_id=license_id, requested_by=acting_user, medium=MEDIUM_VIDEO, prompt=prompt,
                negative_prompt=negative_prompt, params=render_params.as_dict(),
                max_attempts=settings.BESPOKE_RENDER_MAX_ATTEMPTS,
            )
            audit_append(action="render.requested", actor=actor, subject=f"job:{job.id}",
                         data={"license": str(license_id), "params": render_params.as_dict()})
            _enqueue_on_commit(job.id)
    if job is None:
        raise gate.ConsentRefused(decision)
    return job


def render_job_cancel(*, job: RenderJob, acting_user: AbstractBaseUser) -> RenderJob:
    """Cancel on request: a queued job stops now, a running one at its next step."""
    with transaction.atomic():
        job = RenderJob.objects.select_for_update().get(pk=job.pk)
        if job.status in RenderJob.TERMINAL:
            raise InvalidTransition(f"This render already ended ({job.status}).")
        if job.status == RenderJob.Status.QUEUED:
            _finish(job, RenderJob.Status.CANCELLED, "cancelled", "Cancelled by request.", user_actor(acting_user))
        else:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested", "updated_at"])
            audit_append(action="render.cancel_requested", actor=user_actor(acting_user), subject=f"job:{job.id}")
    return job


def _finish(job: RenderJob, status: str, code: str, message: str, actor: str) -> None:
    job.status = status
    job.outcome_code = code
    job.outcome_message = message
    job.finished_at = timezone.now()
    job.lease_expires_at = None
    job.save(update_fields=["status", "outcome_code", "outcome_message", "finished_at", "lease_expires_at", "updated_at"])
    action = {RenderJob.Status.CANCELLED: "render.cancelled", RenderJob.Status.FAILED: "render.failed"}[status]
    audit_append(action=action, actor=actor, subject=f"job:{job.id}", data={"reason": code, "attempt": job.attempt})


def _locked_own_job(job_id: str, attempt: int) -> RenderJob:
    job = RenderJob.objects.select_for_update().get(pk=job_id)
    if job.status != RenderJob.Status.RUNNING or job.attempt != attempt:
        raise LeaseLost()
    return job


def render_job_claim(*, job_id: str, worker: str) -> RenderJob | None:
    """Take the job for this worker, or return None when there is nothing to do.

    Only a queued job, or a running one whose lease expired, can be claimed; a duplicate
    delivery of a job that is running or finished does no work.
    """
    now = timezone.now()
    with transaction.atomic():
        job = RenderJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return None
        expired = job.status == RenderJob.Status.RUNNING and job.lease_expires_at is not None and job.lease_expires_at < now
        if job.status != RenderJob.Status.QUEUED and not expired:
            return None
        if job.attempt >= job.max_attempts:
            _finish(job, RenderJob.Status.FAILED, "attempts_exhausted", "The render failed on every attempt.", SYSTEM_WORKER)
            return None
        job.attempt += 1
        job.status = RenderJob.Status.RUNNING
        job.worker = worker
        job.lease_expires_at = now + timedelta(seconds=settings.BESPOKE_RENDER_LEASE_SECONDS)
        job.started_at = job.started_at or now
        job.progress_step = 0
        job.save(update_fields=["attempt", "status", "worker", "lease_expires_at", "started_at", "progress_step", "updated_at"])
        audit_append(action="render.claimed", actor=SYSTEM_WORKER, subject=f"job:{job.id}",
                     data={"attempt": job.attempt, "worker": worker})
        decision = gate.check(use=_use(job), stage=gate.Stage.CLAIM, actor=SYSTEM_WORKER, subject=f"job:{job.id}")
        if not decision.allowed:
            _finish(job, RenderJob.Status.CANCELLED, str(decision.reason), decision.message, SYSTEM_WORKER)
            return None
    return job


def render_job_checkpoint(*, job_id: str, attempt: int, step: int, total: int, check_consent: bool) -> None:
    """Record progress and renew the lease; stop the render when it was cancelled,
    consent no longer holds, or the lease passed to another attempt."""
    with transaction.atomic():
        job = _locked_own_job(job_id, attempt)
        job.progress_step, job.progress_total = step, total
        job.lease_expires_at = timezone.now() + timedelta(seconds=settings.BESPOKE_RENDER_LEASE_SECONDS)
        job.save(update_fields=["progress_step", "progress_total", "lease_expires_at", "updated_at"])
        if job.cancel_requested:
            _finish(job, RenderJob.Status.CANCELLED, "cancelled", "Cancelled by request.", SYSTEM_WORKER)
            stop = RenderStopped("cancelled", "cancelled by request")
        elif check_consent:
            decision = gate.check(use=_use(job), stage=gate.Stage.STEP, actor=SYSTEM_WORKER, subject=f"job:{job.id}")
            if decision.allowed:
                return
            _finish(job, RenderJob.Status.CANCELLED, str(decision.reason), decision.message, SYSTEM_WORKER)
            stop = RenderStopped(str(decision.reason), decision.message)
        else:
            return
    raise stop


def render_job_publish(*, job_id: str, attempt: int, output_id: str, signed: provenance.SignedOutput,
                       model_sha256: str, disclosure: dict) -> RenderOutput | None:
    """Publish atomically: the fenced job, the gate's locked last check and use record,
    the stored file and the output row commit together, or nothing is published."""
    stored_name: str | None = None
    try:
        with transaction.atomic():
            job = _locked_own_job(job_id, attempt)
            decision = gate.authorize_publication(use=_use(job), output_ref=output_id, job_ref=str(job.id), actor=SYSTEM_WORKER)
            if not decision.allowed:
                _finish(job, RenderJob.Status.CANCELLED, str(decision.reason), decision.message, SYSTEM_WORKER)
                return None
            with signed.path.open("rb") as handle:
                stored_name = default_storage.save(f"renders/{job.id}/{output_id}.mp4", File(handle))
            output = RenderOutput.objects.create(
                id=output_id, job=job, file=stored_name, sha256=signed.sha256, size_bytes=signed.size_bytes,
                manifest_label=signed.manifest_label, model_sha256=model_sha256, disclosure=disclosure,
            )
            job.status = RenderJob.Status.SUCCEEDED
            job.finished_at = timezone.now()
            job.lease_expires_at = None
            job.outcome_code = ""
            job.save(update_fields=["status", "finished_at", "lease_expires_at", "outcome_code", "updated_at"])
            audit_append(action="render.published", actor=SYSTEM_WORKER, subject=f"job:{job.id}",
                         data={"output": output_id, "attempt": attempt, "sha256": signed.sha256,
                               "manifest": signed.manifest_label, "license": str(job.license_id)})
    except BaseException:
        if stored_name:
            default_storage.delete(stored_name)
        raise
    return output


def render_job_fail(*, job_id: str, attempt: int, code: str, message: str) -> None:
    """An attempt crashed: retry it while attempts remain, otherwise fail the job."""
    with transaction.atomic():
        try:
            job = _locked_own_job(job_id, attempt)
        except LeaseLost:
            return
        audit_append(action="render.attempt_failed", actor=SYSTEM_WORKER, subject=f"job:{job.id}",
                     data={"attempt": attempt, "reason": code})
        if job.attempt >= job.max_attempts:
            _finish(job, RenderJob.Status.FAILED, code, message, SYSTEM_WORKER)
            return
        job.status = RenderJob.Status.QUEUED
        job.lease_expires_at = None
        job.save(update_fields=["status", "lease_expires_at", "updated_at"])
        _enqueue_on_commit(job.id)


def render_job_execute(*, job_id: str, worker: str) -> RenderJob | None:
    """Claim and run one job end to end; what a worker does for each delivery."""
    job = render_job_claim(job_id=job_id, worker=worker)
    if job is None:
        logger.info("render %s: nothing to do for %s", job_id, worker)
        return None
    attempt = job.attempt
    params = RenderParams(**job.params)
    every = settings.BESPOKE_GATE_CHECK_EVERY_STEPS

    def on_step(done: int, total: int) -> None:
        render_job_checkpoint(job_id=job_id, attempt=attempt, step=done, total=total,
                              check_consent=done % every == 0 or done == total)

    workdir = Path(tempfile.mkdtemp(prefix=f"bespoke-render-{job_id}-"))
    try:
        loaded = pipeline_cache.get(model_spec())
        frames = render_frames(loaded.pipe, RenderSettings(
            prompt=job.prompt, negative_prompt=job.negative_prompt, num_frames=params.num_frames, width=params.width,
            height=params.height, steps=params.steps, guidance_scale=params.guidance_scale, seed=params.seed,
        ), on_step=on_step)
        labelled, label = provenance.disclosure_apply(frames)
        unsigned = workdir / "unsigned.mp4"
        encode_mp4(labelled, unsigned, fps=params.fps)
        output_id = str(uuid.uuid4())
        signed = provenance.output_sign(src=unsigned, dst=workdir / f"{output_id}.mp4", output_id=output_id,
                                        license_id=str(job.license_id), model_sha256=loaded.model_sha256, label=label)
        render_job_publish(job_id=job_id, attempt=attempt, output_id=output_id, signed=signed,
                           model_sha256=loaded.model_sha256, disclosure=label.as_dict())
    except RenderStopped as stop:
        logger.info("render %s attempt %s stopped: %s", job_id, attempt, stop.code)
    except Exception as exc:
        logger.exception("render %s attempt %s crashed", job_id, attempt)
        render_job_fail(job_id=job_id, attempt=attempt, code="error", message=f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return RenderJob.objects.get(pk=job_id)


def render_jobs_reap() -> dict[str, int]:
    """Requeue jobs whose worker vanished (expired lease), fail those out of attempts,
    and republish queued jobs whose message may have been lost."""
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "republished": 0}
    expired_ids = list(RenderJob.objects.filter(status=RenderJob.Status.RUNNING, lease_expires_at__lt=now)
                       .values_list("id", flat=True))
    for job_id in expired_ids:
        with transaction.atomic():
            job = RenderJob.objects.select_for_update().get(pk=job_id)
            if job.status != RenderJob.Status.RUNNING or job.lease_expires_at is None or job.lease_expires_at >= now:
                continue
            if job.attempt >= job.max_attempts:
                _finish(job, RenderJob.Status.FAILED, "attempts_exhausted",
                        "The worker stopped responding on the last attempt.", SYSTEM_REAPER)
                counts["failed"] += 1
                continue
            job.status = RenderJob.Status.QUEUED
            job.lease_expires_at = None
            job.save(update_fields=["status", "lease_expires_at", "updated_at"])
            audit_append(action="render.requeued", actor=SYSTEM_REAPER, subject=f"job:{job.id}",
                         data={"attempt": job.attempt, "reason": "lease_expired"})
            _enqueue_on_commit(job.id)
            counts["requeued"] += 1
    stale = now - timedelta(seconds=settings.BESPOKE_REQUEUE_QUEUED_AFTER_SECONDS)
    for job_id in RenderJob.objects.filter(status=RenderJob.Status.QUEUED, updated_at__lt=stale).values_list("id", flat=True):
        with transaction.atomic():
            if RenderJob.objects.filter(pk=job_id, status=RenderJob.Status.QUEUED).update(updated_at=now):
                _enqueue_on_commit(job_id)
                counts["republished"] += 1
    return counts
