"""Training jobs: a likeness model (DreamBooth-LoRA) from the talent's own reference
photos, only under a license that allows it, stored sealed under the talent's key."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

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
from generation.models import TrainingJob
from generation.selectors import job_cancellable_by
from generation.pipeline.loading import load_image_pipeline, resolve_device
from generation.pipeline.training import TrainingSettings, decode_png, train_dreambooth_lora
from generation.services.leases import (
    RenderStopped,
    enqueue_on_commit,
    job_cancel,
    job_checkpoint,
    job_claim,
    job_fail_attempt,
    job_finish,
    job_progress,
    jobs_reap,
    locked_own_job,
)
from generation.services.render import model_spec

logger = logging.getLogger(__name__)

INSTANCE_TOKEN = "sks"


@dataclass(frozen=True)
class TrainingParams:
    steps: int = 150
    rank: int = 4
    alpha: float = 8.0
    learning_rate: float = 1e-3
    prior_preservation: bool = True
    num_class_images: int = 4
    train_text_encoder: bool = False
    class_noun: str = "person"
    seed: int = 0


_BOUNDS: dict[str, tuple[float, float]] = {"steps": (1, 5000), "rank": (1, 128), "alpha": (0.5, 256),
                                           "learning_rate": (1e-6, 1e-2), "num_class_images": (1, 200),
                                           "seed": (0, 2**32 - 1)}
_CLASS_NOUNS = ("person", "man", "woman", "child", "actor", "actress")


def training_params_parse(raw: dict[str, Any] | None) -> TrainingParams:
    raw = dict(raw or {})
    fields = TrainingParams.__dataclass_fields__
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValidationFailed(f"Unknown training parameters: {', '.join(unknown)}.", field=unknown[0])
    for name, value in raw.items():
        expected = fields[name].type
        if expected == "bool" and not isinstance(value, bool):
            raise ValidationFailed(f"{name} must be true or false.", field=name)
        if expected in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (expected == "int" and not isinstance(value, int)):
                raise ValidationFailed(f"{name} must be a {'whole ' if expected == 'int' else ''}number.", field=name)
            low, high = _BOUNDS[name]
            if not low <= value <= high:
                raise ValidationFailed(f"{name} must be between {low:g} and {high:g}.", field=name)
    if raw.get("class_noun", "person") not in _CLASS_NOUNS:
        raise ValidationFailed(f"class_noun must be one of {', '.join(_CLASS_NOUNS)}.", field="class_noun")
    return TrainingParams(**raw)


def _enqueue(job_id: str) -> None:
    from generation.tasks import training_job_run

    training_job_run.delay(job_id)


def _use(job: TrainingJob) -> gate.UseRequest:
    return gate.UseRequest(license_id=str(job.license_id), medium="likeness_model", prompt="", purpose=gate.Purpose.TRAIN)


def _gate_refusal(job: TrainingJob, stage: gate.Stage) -> tuple[str, str] | None:
    decision = gate.check(use=_use(job), stage=stage, actor=SYSTEM_WORKER, subject=job.audit_subject)
    return None if decision.allowed else (str(decision.reason), decision.message)


def training_job_request(*, license_id: str, params: dict | None = None, acting_user: AbstractBaseUser) -> TrainingJob:
    """Queue a likeness-model training; refusals raise `gate.ConsentRefused` (and are audited)."""
    training_params = training_params_parse(params)
    if not gate.requester_is_licensee(user_id=acting_user.pk, license_id=license_id):
        raise NotAllowed("You can only train under your own studio's licenses.", code="not_found")
    photos = reference_photo_count(license_id=license_id)
    if photos < settings.BESPOKE_TRAINING_MIN_PHOTOS:
        raise ValidationFailed(f"The talent has {photos} reference photos; training needs at least "
                               f"{settings.BESPOKE_TRAINING_MIN_PHOTOS}.", field="photos")
    actor = user_actor(acting_user)
    use = gate.UseRequest(license_id=str(license_id), medium="likeness_model", prompt="", purpose=gate.Purpose.TRAIN)
    with transaction.atomic():
        decision = gate.check(use=use, stage=gate.Stage.REQUEST, actor=actor, subject=f"license:{license_id}")
        job = None
        if decision.allowed:
            job = TrainingJob.objects.create(license_id=license_id, requested_by=acting_user,
                                             params=asdict(training_params),
                                             max_attempts=settings.BESPOKE_RENDER_MAX_ATTEMPTS)
            audit_append(action="training.requested", actor=actor, subject=job.audit_subject,
                         data={"license": str(license_id), "params": asdict(training_params)})
            enqueue_on_commit(_enqueue, job.id)
    if job is None:
        raise gate.ConsentRefused(decision)
    return job


def training_job_cancel(*, job: TrainingJob, acting_user: AbstractBaseUser) -> TrainingJob:
    """The producer who asked, or the licensee's legal staff, may cancel a training."""
    if not job_cancellable_by(job=job, user=acting_user):
        raise NotAllowed("Only the producer who asked for this training, or legal, can cancel it.")
    return job_cancel(job, actor=user_actor(acting_user))


def training_job_execute(*, job_id: str, worker: str) -> TrainingJob | None:
    job = job_claim(TrainingJob, job_id=job_id, worker=worker, admit=lambda j: _gate_refusal(j, gate.Stage.CLAIM))
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
            job_checkpoint(TrainingJob, job_id=job_id, attempt=attempt, step=done, total=total, loss_history=losses,
                           still_allowed=lambda j: _gate_refusal(j, gate.Stage.STEP))
        elif now - clock["written"] >= settings.BESPOKE_PROGRESS_WRITE_SECONDS:
            clock["written"] = now
            job_progress(TrainingJob, job_id=job_id, attempt=attempt, step=done, total=total, loss_history=losses)

    try:
        material = training_material(license_id=str(job.license_id))
        import torch

        device, _ = resolve_device(settings.BESPOKE_DEVICE)
        pipe = load_image_pipeline(model_spec(), dtype=torch.float32).to(device)
        trained = train_dreambooth_lora(pipe, [decode_png(photo) for photo in material.photos], TrainingSettings(
            instance_prompt=f"a photo of {INSTANCE_TOKEN} {params.class_noun}", class_prompt=f"a photo of {params.class_noun}",
            steps=params.steps, rank=params.rank, alpha=params.alpha, learning_rate=params.learning_rate,
            resolution=settings.BESPOKE_TRAINING_RESOLUTION, prior_preservation=params.prior_preservation,
            num_class_images=params.num_class_images, train_text_encoder=params.train_text_encoder, seed=params.seed,
        ), on_step=on_step)
        del material, pipe
        _training_complete(job_id=job_id, attempt=attempt, trained_weights=trained.weights, params=params,
                           eval_before=trained.eval_loss_before, eval_after=trained.eval_loss_after)
    except RenderStopped as stop:
        logger.info("training %s attempt %s stopped: %s", job_id, attempt, stop.code)
    except Exception as exc:
        logger.exception("training %s attempt %s crashed", job_id, attempt)
        job_fail_attempt(TrainingJob, job_id=job_id, attempt=attempt, code="error",
                         message=f"{type(exc).__name__}: {exc}"[:2000], enqueue=_enqueue)
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
    return jobs_reap(TrainingJob, enqueue=_enqueue)
