"""Training jobs: a likeness model (DreamBooth-LoRA) from the talent's own reference
photos, only under a license that allows it, stored sealed under the talent's key."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.actors import SYSTEM_WORKER, user_actor
from audit.services import audit_append
from core.errors import NotAllowed, ValidationFailed
from consent import gate
from consent.likeness import likeness_model_register, reference_photo_count, training_material
from consent.vault import vault_delete
from generation import queue
from generation.models import TrainingJob
from generation.params import TrainingParams, training_params_parse
from generation.selectors import job_cancellable_by
from generation.pipeline.training import TrainingSettings, decode_png
from generation.services.jobs import JobKind, JobUse, requester_must_be_licensee
from generation.services.leases import RenderStopped, job_cancel, job_finish, job_progress, locked_own_job
from generation.services.render import model_family, model_spec

logger = logging.getLogger(__name__)

INSTANCE_TOKEN = "sks"


def _use(job: TrainingJob) -> gate.UseRequest:
    return gate.UseRequest(license_id=str(job.license_id), medium="likeness_model", prompt="", purpose=gate.Purpose.TRAIN)


TRAININGS: JobKind[TrainingJob] = JobKind(model=TrainingJob, task_name=queue.TRAINING_JOB_RUN,
                                           uses=lambda job: [JobUse(_use(job))])


def training_job_request(*, license_id: str, params: dict | None = None, acting_user: AbstractBaseUser) -> TrainingJob:
    """Queue a likeness-model training; refusals raise `gate.ConsentRefused` (and are audited)."""
    training_params = training_params_parse(params)
    requester_must_be_licensee(license_id=license_id, acting_user=acting_user,
                               message="You can only train under your own studio's licenses.")
    photos = reference_photo_count(license_id=license_id)
    if photos < settings.BESPOKE_TRAINING_MIN_PHOTOS:
        raise ValidationFailed(f"The talent has {photos} reference photos; training needs at least "
                               f"{settings.BESPOKE_TRAINING_MIN_PHOTOS}.", field="photos")
    use = gate.UseRequest(license_id=str(license_id), medium="likeness_model", prompt="", purpose=gate.Purpose.TRAIN)

    def create(actor: str) -> TrainingJob:
        job = TrainingJob.objects.create(license_id=license_id, requested_by=acting_user,
                                         params=training_params.as_dict(),
                                         max_attempts=settings.BESPOKE_TRAINING_MAX_ATTEMPTS)
        audit_append(action="training.requested", actor=actor, subject=job.audit_subject,
                     data={"license": str(license_id), "params": training_params.as_dict()})
        return job

    return TRAININGS.request(uses=[JobUse(use)], acting_user=acting_user, create=create)


def training_job_cancel(*, job: TrainingJob, acting_user: AbstractBaseUser) -> TrainingJob:
    """The producer who asked, or the licensee's legal staff, may cancel a training."""
    if not job_cancellable_by(job=job, user=acting_user):
        raise NotAllowed("Only the producer who asked for this training, or legal, can cancel it.")
    return job_cancel(job, actor=user_actor(acting_user))


def training_job_execute(*, job_id: str, worker: str) -> TrainingJob | None:
    job = TRAININGS.claim(job_id=job_id, worker=worker)
    if job is None:
        logger.info("training %s: nothing to do for %s", job_id, worker)
        return None
    attempt = job.attempt
    params = TrainingParams(**job.params)
    losses: list[float] = []
    clock = {"written": time.monotonic(), "checked": time.monotonic()}

    def on_step(done: int, total: int, loss: float) -> None:
        # Training steps are short: the loss of every step is kept, but written (and the
        # gate asked) on a clock rather than at every step.
        losses.append(round(loss, 6))
        now = time.monotonic()
        if now - clock["checked"] >= settings.BESPOKE_TRAINING_CHECK_SECONDS or done == total:
            clock["checked"] = clock["written"] = now
            TRAININGS.checkpoint(job_id=job_id, attempt=attempt, step=done, total=total, loss_history=losses)
        elif now - clock["written"] >= settings.BESPOKE_PROGRESS_WRITE_SECONDS:
            clock["written"] = now
            job_progress(TrainingJob, job_id=job_id, attempt=attempt, step=done, total=total, loss_history=losses)

    try:
        material = training_material(license_id=str(job.license_id))
        photos = [decode_png(photo, size=settings.BESPOKE_TRAINING_RESOLUTION) for photo in material.photos]
        del material
        trained = model_family().train_likeness(model_spec(), photos, TrainingSettings(
            instance_prompt=f"a photo of {INSTANCE_TOKEN} {params.class_noun}", class_prompt=f"a photo of {params.class_noun}",
            steps=params.steps, rank=params.rank, alpha=params.alpha, learning_rate=params.learning_rate,
            resolution=settings.BESPOKE_TRAINING_RESOLUTION, prior_preservation=params.prior_preservation,
            num_class_images=params.num_class_images, train_text_encoder=params.train_text_encoder, seed=params.seed,
        ), on_step=on_step)
        del photos
        _training_complete(job_id=job_id, attempt=attempt, trained_weights=trained.weights, params=params,
                           eval_before=trained.eval_loss_before, eval_after=trained.eval_loss_after)
    except RenderStopped as stop:
        logger.info("training %s attempt %s stopped: %s", job_id, attempt, stop.code)
    except Exception as exc:
        logger.exception("training %s attempt %s crashed", job_id, attempt)
        TRAININGS.attempt_crashed(job_id=job_id, attempt=attempt, error=exc)
    return TrainingJob.objects.get(pk=job_id)


def _training_complete(*, job_id: str, attempt: int, trained_weights: bytes, params: TrainingParams,
                       eval_before: float, eval_after: float) -> None:
    """Register the sealed model and finish the job in one transaction, with the license
    locked and checked once more; a stale attempt or a revoked license registers nothing."""
    stored = ""
    try:
        with transaction.atomic():
            job = TrainingJob.objects.get(pk=job_id)  # read only: the license row is locked before the job's
            decision = gate.check_locked(use=_use(job), stage=gate.Stage.PUBLISH, actor=SYSTEM_WORKER,
                                         subject=job.audit_subject)
            job = locked_own_job(TrainingJob, job_id, attempt)
            if not decision.allowed:
                job_finish(job, TrainingJob.Status.CANCELLED, str(decision.reason), decision.message, SYSTEM_WORKER)
                return
            model = likeness_model_register(
                license_id=str(job.license_id), training_ref=str(job.id), weights=trained_weights, rank=params.rank,
                alpha=params.alpha, instance_prompt=f"a photo of {INSTANCE_TOKEN} {params.class_noun}", actor=SYSTEM_WORKER)
            stored = model.stored_name
            job.status = TrainingJob.Status.SUCCEEDED
            job.likeness_model_id = model.id
            job.eval_loss_before, job.eval_loss_after = eval_before, eval_after
            job.finished_at = timezone.now()
            job.lease_expires_at = None
            job.save(update_fields=["status", "likeness_model_id", "eval_loss_before", "eval_loss_after", "finished_at",
                                    "lease_expires_at", "updated_at"])
            audit_append(action="training.succeeded", actor=SYSTEM_WORKER, subject=job.audit_subject,
                         data={"attempt": attempt, "likeness_model": str(model.id), "weights_sha256": model.weights_sha256})
    except BaseException:
        vault_delete(stored)
        raise


def training_jobs_reap() -> dict[str, int]:
    return TRAININGS.reap()
