"""Render jobs: request under a license, claim, run with the gate asked every few steps,
then label, sign and publish atomically."""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.actors import SYSTEM_WORKER, user_actor
from audit.services import audit_append
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.object_storage import storage_save_path
from consent import gate
from consent.approvals import use_approval_decide, use_approval_request
from consent.likeness import likeness_model_weights
from generation import queue
from generation.models import RenderCast, RenderJob, RenderOutput
from generation.output_screen import OUTPUT_REFUSED, ScreenReport, refusal_message, screen_frames, with_screen_record
from generation.params import (
    CONTINUE_FROM,
    RenderParams,
    prompt_clean,
    render_params_parse,
    render_start_parse,
    render_start_stored,
)
from generation.selectors import job_cancellable_by, watermark_id_taken
from generation.pipeline.families import ModelFamily, ModelPaths, family_for
from generation.pipeline.loading import LoadedModel, pipeline_cache
from generation.pipeline.rendering import RenderSettings, StepHook
from generation.pipeline.video import encode_mp4
from generation.services.continuity import StartingPoint, starting_point_check, starting_point_prepare
from generation.services.jobs import JobKind, JobUse, requester_must_be_licensee
from generation.services.leases import (
    LeaseLost,
    RenderStopped,
    enqueue_on_commit,
    job_cancel,
    job_finish,
    job_progress,
    locked_own_job,
)
from provenance import services as provenance
from provenance import watermark

logger = logging.getLogger(__name__)

MEDIUM_VIDEO = "video"
__all__ = ["LeaseLost", "RenderStopped", "render_job_request", "render_job_execute"]


def model_family() -> ModelFamily:
    return family_for(settings.BESPOKE_MODEL_FAMILY)


def model_spec() -> Any:
    """The configured model, as its family loads it."""
    return model_family().spec_for(ModelPaths(
        base=settings.BESPOKE_MODEL_BASE, motion_adapter=settings.BESPOKE_MOTION_ADAPTER,
        config=settings.BESPOKE_MODEL_CONFIG, image_to_video=settings.BESPOKE_MODEL_IMAGE_TO_VIDEO,
        device=settings.BESPOKE_DEVICE, threads=settings.BESPOKE_TORCH_THREADS, compile=settings.BESPOKE_COMPILE))


def render_frames(loaded: LoadedModel, render_settings: RenderSettings, on_step: StepHook) -> np.ndarray:
    """One clip from the configured family's text-to-video pipeline, with its likeness adapters already on."""
    return model_family().render_text_to_video(loaded, render_settings, on_step=on_step)


def _use(job: RenderJob) -> gate.UseRequest:
    return gate.UseRequest(license_id=str(job.license_id), medium=job.medium, prompt=job.prompt,
                           likeness_model_id=str(job.likeness_model_id) if job.likeness_model_id else None,
                           job_ref=str(job.id))


def _cast(job: RenderJob) -> list[RenderCast]:
    """A scene's roles in license order (the order publication locks them in); none for a plain render."""
    return list(job.cast.order_by("license_id"))


def _uses(job: RenderJob) -> list[JobUse]:
    """One use for a plain render; one for each role of a scene, under the role's own license."""
    cast = _cast(job)
    if not cast:
        return [JobUse(_use(job))]
    return [JobUse(gate.UseRequest(
        license_id=str(member.license_id), medium=job.medium, prompt=job.prompt,
        likeness_model_id=str(member.likeness_model_id) if member.likeness_model_id else None, job_ref=str(job.id),
        interactive=job.interactive, story_id=str(job.story_id) if job.story_id else None), role=member.role)
        for member in cast]


def _priority(job_id: str) -> queue.Priority:
    speculative = RenderJob.objects.filter(pk=job_id).values_list("speculative", flat=True).first()
    return queue.Priority.SPECULATIVE if speculative else queue.Priority.NORMAL


RENDERS: JobKind[RenderJob] = JobKind(model=RenderJob, task_name=queue.RENDER_JOB_RUN, uses=_uses, priority=_priority)


def render_job_request(*, license_id: str, prompt: str, negative_prompt: str = "", params: dict | None = None,
                       likeness_model_id: str | None = None, acting_user: AbstractBaseUser) -> RenderJob:
    """Queue a render under a license; refused requests raise `gate.ConsentRefused` (and are audited).

    `params` may ask for a keyframe (`keyframe: true`): one still, published as a PNG, for the
    producer to approve before it is animated; it is gated and recorded as a use like any
    render. Or they may name an earlier published output of the same license that the new clip
    starts from (image-to-video): `continue_from` (a clip, from its last frame) or
    `animate_keyframe` (a keyframe). One that is not raises ValidationFailed before anything
    is written."""
    prompt = prompt_clean(prompt)
    negative_prompt = prompt_clean(negative_prompt, field="negative_prompt", required=False)
    raw_params, start = render_start_parse(params)
    render_params = render_params_parse(raw_params)
    if likeness_model_id is not None and not _is_uuid(likeness_model_id):
        raise ValidationFailed("Unknown likeness model.", field="likeness_model_id")
    requester_must_be_licensee(license_id=license_id, acting_user=acting_user,
                               message="You can only request renders under your own studio's licenses.")
    if start.source is not None:
        starting_point_check(source=start.source, output_id=start.source_output_id, license_id=str(license_id),
                             likeness=likeness_model_id is not None)
    stored_params = {**render_params.as_dict(), **({"num_frames": 1} if start.keyframe else {}),
                     **start.as_params()}
    use = gate.UseRequest(license_id=str(license_id), medium=MEDIUM_VIDEO, prompt=prompt, likeness_model_id=likeness_model_id)

    def create(actor: str) -> RenderJob:
        needs_approval = gate.use_requires_approval(license_id=str(license_id))
        job = RenderJob.objects.create(
            license_id=license_id, requested_by=acting_user, medium=MEDIUM_VIDEO, prompt=prompt,
            negative_prompt=negative_prompt, params=stored_params, likeness_model_id=likeness_model_id,
            max_attempts=settings.BESPOKE_RENDER_MAX_ATTEMPTS,
            status=RenderJob.Status.AWAITING_APPROVAL if needs_approval else RenderJob.Status.QUEUED,
        )
        audit_append(action="render.requested", actor=actor, subject=job.audit_subject,
                     data={"license": str(license_id), "params": stored_params,
                           "likeness_model": likeness_model_id, "awaits_approval": needs_approval})
        if needs_approval:
            use_approval_request(license_id=str(license_id), job_ref=str(job.id), prompt=prompt,
                                 params=stored_params, acting_user=acting_user)
        return job

    return RENDERS.request(uses=[JobUse(use)], acting_user=acting_user, create=create)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def render_job_decide(*, job: RenderJob, approve: bool, reason: str, acting_user: AbstractBaseUser) -> RenderJob:
    """The talent approves (the render is queued) or declines (it is cancelled) one use."""
    with transaction.atomic():
        job = RenderJob.objects.select_for_update().get(pk=job.pk)
        if job.status != RenderJob.Status.AWAITING_APPROVAL:
            raise InvalidTransition("This render is not waiting for an approval.")
        use_approval_decide(job_ref=str(job.id), approve=approve, reason=reason, acting_user=acting_user)
        if approve:
            job.status = RenderJob.Status.QUEUED
            job.save(update_fields=["status", "updated_at"])
            enqueue_on_commit(RENDERS.enqueue, job.id)
        else:
            job_finish(job, RenderJob.Status.CANCELLED, "use_declined", "The talent declined this use.",
                       user_actor(acting_user))
    return job


def render_job_cancel(*, job: RenderJob, acting_user: AbstractBaseUser) -> RenderJob:
    """Whoever asked (the producer, or the viewer of a scene), or the licensee's legal staff, may cancel a render."""
    if not job_cancellable_by(job=job, user=acting_user):
        raise NotAllowed("Only the producer who asked for this render, or legal, can cancel it.")
    return job_cancel(job, actor=user_actor(acting_user))


def render_job_claim(*, job_id: str, worker: str) -> RenderJob | None:
    return RENDERS.claim(job_id=job_id, worker=worker)


def render_job_checkpoint(*, job_id: str, attempt: int, step: int, total: int, check_consent: bool) -> None:
    """Every step: progress and lease. Every few steps: cancellation and the consent gate."""
    if check_consent:
        RENDERS.checkpoint(job_id=job_id, attempt=attempt, step=step, total=total)
    else:
        job_progress(RenderJob, job_id=job_id, attempt=attempt, step=step, total=total)


def render_job_publish(*, job_id: str, attempt: int, output_id: str, signed: provenance.SignedOutput,
                       model_sha256: str, disclosure: dict, watermark_id: int) -> RenderOutput | None:
    """Publish atomically: the gate's locked last check and use record, the fenced job and
    the output row commit together, or nothing is published.

    The file is stored before the transaction opens, so no lock waits on storage, and is
    deleted again unless the output row commits: a reader never sees an output without its
    file. Locks follow the lock order (core.locking): the license row (the gate), then
    the job row, whose fencing token is checked again under the lock."""
    job = RenderJob.objects.get(pk=job_id)
    if job.status != RenderJob.Status.RUNNING or job.attempt != attempt:
        raise LeaseLost()  # a stale worker stores nothing
    stored_name = _store_output(job=job, output_id=output_id, signed=signed)
    published: RenderOutput | None = None
    try:
        with transaction.atomic():
            refusal = _authorize_publication(job, output_id)
            job = locked_own_job(RenderJob, job_id, attempt)
            if refusal is not None:
                job_finish(job, RenderJob.Status.CANCELLED, str(refusal.reason), refusal.message, SYSTEM_WORKER)
                return None
            output = RenderOutput.objects.create(
                id=output_id, job=job, file=stored_name, sha256=signed.sha256, size_bytes=signed.size_bytes,
                manifest_label=signed.manifest_label, model_sha256=model_sha256, disclosure=disclosure,
                watermark_id=watermark_id, compliance=signed.compliance,
            )
            job.status = RenderJob.Status.SUCCEEDED
            job.finished_at = timezone.now()
            job.lease_expires_at = None
            job.outcome_code = ""
            job.save(update_fields=["status", "finished_at", "lease_expires_at", "outcome_code", "updated_at"])
            audit_append(action="render.published", actor=SYSTEM_WORKER, subject=job.audit_subject,
                         data={"output": output_id, "attempt": attempt, "sha256": signed.sha256,
                               "manifest": signed.manifest_label, "license": str(job.license_id),
                               "watermark_id": watermark_id, "time_stamped": signed.time_stamped,
                               **({"cast": _cast_record(job)} if job.interactive else {}),
                               **({"continues": job.params[CONTINUE_FROM]} if CONTINUE_FROM in job.params else {}),
                               **({"animates_keyframe": job.animates_keyframe} if job.animates_keyframe else {}),
                               **({"keyframe": True} if job.is_keyframe else {})})
        published = output  # committed
    finally:
        if published is None and not _output_may_exist(output_id):
            default_storage.delete(stored_name)
    return published


def _output_may_exist(output_id: str) -> bool:
    """Whether a publication that did not return may have committed all the same: when the
    database went away during COMMIT it may have committed, so the file is kept (an orphan
    file at worst) unless the database answers that the output row is not there."""
    try:
        return RenderOutput.objects.filter(pk=output_id).exists()
    except DatabaseError:
        return True


def _authorize_publication(job: RenderJob, output_id: str) -> gate.GateDecision | None:
    """Inside the publishing transaction: the gate's locked last check of every license the
    job uses, in license-id order (the lock order, core.locking), each allowed use recorded;
    None when all allow it, else the first refusal.

    With several licenses each is first checked under its lock, so that a refusal of one
    leaves no use of the others recorded."""
    uses = _uses(job)
    if len(uses) > 1:
        for use in uses:
            decision = gate.check_locked(use=use.request, stage=gate.Stage.PUBLISH, actor=SYSTEM_WORKER,
                                         subject=job.audit_subject)
            if not decision.allowed:
                return use.named(decision)
    for number, use in enumerate(uses):
        decision = gate.authorize_publication(use=use.request, output_ref=output_id, job_ref=str(job.id),
                                              subject=job.audit_subject, actor=SYSTEM_WORKER)
        if not decision.allowed:
            if number:  # every license is locked since its check above: only a bug gets here
                raise RuntimeError(f"license {use.request.license_id} refused publication after allowing it")
            return use.named(decision)
    return None


def _cast_record(job: RenderJob) -> dict[str, str]:
    """A scene's roles and the license each is played under, for its audit events."""
    return {member.role: str(member.license_id) for member in _cast(job)}


def _store_output(*, job: RenderJob, output_id: str, signed: provenance.SignedOutput) -> str:
    """Upload the signed file (a clip, or a keyframe's still) from the job's folder, streamed (an output
    may be tens of MB)."""
    return storage_save_path(f"renders/{job.id}/{output_id}{signed.path.suffix}", signed.path)


def watermark_id_new() -> int:
    """A fresh, unguessable, non-zero watermark id no published output carries yet."""
    for _ in range(32):
        candidate = secrets.randbits(watermark.PAYLOAD_BITS)
        if candidate and not watermark_id_taken(candidate):
            return candidate
    raise RuntimeError("could not find an unused watermark id")


def render_output_screen(*, job_id: str, attempt: int, license_ids: Sequence[str],
                         frames: Sequence[np.ndarray]) -> ScreenReport | None:
    """Screen a render's raw frames (generation.output_screen) for what any of its licenses
    excludes. A finding ends the job without output and raises RenderStopped: a refusal,
    which no later attempt would change, not a crash to retry."""
    excluded = dict.fromkeys(category for license_id in license_ids
                             for category in gate.excluded_categories(license_id=license_id))
    report = screen_frames(frames, tuple(excluded))
    if report is None:
        return None
    logger.info("render %s screened by %s in %.2f s", job_id, ", ".join(report.detectors), report.seconds)
    if report.refusal is None:
        return report
    detector, finding = report.refusal
    message = refusal_message(finding)
    with transaction.atomic():
        job = locked_own_job(RenderJob, job_id, attempt)
        audit_append(action="render.output_refused", actor=SYSTEM_WORKER, subject=job.audit_subject,
                     data={"attempt": attempt, "detector": detector, "category": finding.category,
                           "label": finding.label, "frame": finding.frame, "score": round(finding.score, 3),
                           "frames_checked": len(report.frames)})
        job_finish(job, RenderJob.Status.CANCELLED, OUTPUT_REFUSED, message, SYSTEM_WORKER)
    raise RenderStopped(OUTPUT_REFUSED, message)


def render_job_execute(*, job_id: str, worker: str) -> RenderJob | None:
    """Claim and run one job end to end; what a worker does for each delivery."""
    job = render_job_claim(job_id=job_id, worker=worker)
    if job is None:
        logger.info("render %s: nothing to do for %s", job_id, worker)
        return None
    attempt = job.attempt
    stored, start = render_start_stored(job.params)
    params = RenderParams(**stored)
    every = settings.BESPOKE_GATE_CHECK_EVERY_STEPS

    def on_step(done: int, total: int) -> None:
        render_job_checkpoint(job_id=job_id, attempt=attempt, step=done, total=total,
                              check_consent=done % every == 0 or done == total)

    workdir = Path(tempfile.mkdtemp(prefix=f"bespoke-render-{job_id}-"))
    try:
        family = model_family()
        loaded = pipeline_cache.get(model_spec())
        license_ids, model_ids = _licenses_and_models(job)
        likenesses = [likeness_model_weights(model_id=model_id) for model_id in model_ids]
        starting = starting_point_prepare(
            source=start.source, output_id=start.source_output_id, license_id=str(job.license_id), workdir=workdir,
            width=params.width, height=params.height, cast_license_ids=license_ids) if start.source else None
        render_settings = RenderSettings(
            prompt=job.prompt, negative_prompt=job.negative_prompt, num_frames=params.num_frames,
            width=params.width, height=params.height, steps=params.steps, guidance_scale=params.guidance_scale,
            seed=params.seed,
        )
        with family.likeness_adapters(loaded, [(likeness.weights, params.likeness_weight) for likeness in likenesses],
                                      image_to_video=starting is not None):
            frames = _render(family, loaded, render_settings, starting, on_step, keyframe=start.keyframe)
        screening = render_output_screen(job_id=job_id, attempt=attempt, license_ids=license_ids, frames=frames)
        labelled, label = provenance.disclosure_apply(frames)
        watermark_id = watermark_id_new()
        marked, binding = provenance.watermark_apply(labelled, watermark_id=watermark_id, fps=params.fps)
        unsigned = _encode(marked, workdir, fps=params.fps, still=start.keyframe)
        output_id = str(uuid.uuid4())
        signed = provenance.output_sign(src=unsigned, dst=workdir / f"{output_id}{unsigned.suffix}",
                                        output_id=output_id,
                                        license_id=license_ids[0], model_sha256=loaded.model_sha256,
                                        likeness_model_sha256=likenesses[0].weights_sha256 if likenesses else None,
                                        label=label, watermark_binding=binding,
                                        license_ids=license_ids if len(license_ids) > 1 else (),
                                        likeness_model_sha256s=[likeness.weights_sha256 for likeness in likenesses]
                                        if len(likenesses) > 1 else (),
                                        sources=[(starting.relation, starting.path)] if starting else ())
        signed = with_screen_record(signed, screening)
        render_job_publish(job_id=job_id, attempt=attempt, output_id=output_id, signed=signed,
                           model_sha256=loaded.model_sha256, disclosure=label.as_dict(), watermark_id=watermark_id)
    except RenderStopped as stop:
        logger.info("render %s attempt %s stopped: %s", job_id, attempt, stop.code)
    except Exception as exc:
        logger.exception("render %s attempt %s crashed", job_id, attempt)
        RENDERS.attempt_crashed(job_id=job_id, attempt=attempt, error=exc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return RenderJob.objects.get(pk=job_id)


def _render(family: ModelFamily, loaded: LoadedModel, render_settings: RenderSettings,
            starting: StartingPoint | None, on_step: StepHook, *, keyframe: bool = False) -> np.ndarray:
    """Text-to-video; a keyframe's one still; or image-to-video from the frame of the earlier
    output the render starts from (the last frame of a clip it continues, the keyframe it animates)."""
    if keyframe:
        return family.render_keyframe(loaded, render_settings, on_step=on_step)
    if starting is None:
        return render_frames(loaded, render_settings, on_step=on_step)
    return family.render_image_to_video(loaded, render_settings, first_frame=starting.first_frame,
                                        on_step=on_step)


def _encode(frames: np.ndarray, workdir: Path, *, fps: int, still: bool) -> Path:
    """The labelled, watermarked frames as the file to sign: an MP4 clip, or a keyframe's one still as a
    PNG (lossless, so the watermark is kept exactly as embedded)."""
    if not still:
        path = workdir / "unsigned.mp4"
        encode_mp4(frames, path, fps=fps)
        return path
    from PIL import Image

    path = workdir / "unsigned.png"
    Image.fromarray(frames[0]).save(path, format="PNG")
    return path


def _licenses_and_models(job: RenderJob) -> tuple[list[str], list[str]]:
    """The licenses a render is made under (the job's own first) and the likeness models it
    loads: a scene's cast's, or the plain render's one."""
    cast = _cast(job)
    licenses = dict.fromkeys([str(job.license_id), *(str(member.license_id) for member in cast)])
    models = [member.likeness_model_id for member in cast] if cast else [job.likeness_model_id]
    return list(licenses), [str(model_id) for model_id in models if model_id]


def render_jobs_cancel_for_license(*, license_id: str, actor: str, **_: object) -> list[str]:
    """Cancel the renders under the license, or with a role played under it, that have not
    started (or await approval) at once; running ones stop at their next consent check."""
    cancelled = []
    waiting = (RenderJob.Status.QUEUED, RenderJob.Status.AWAITING_APPROVAL)
    under_it = RenderJob.objects.filter(Q(license_id=license_id) | Q(cast__license_id=license_id), status__in=waiting)
    for job_id in under_it.values_list("id", flat=True).distinct():
        with transaction.atomic():
            job = RenderJob.objects.select_for_update().get(pk=job_id)
            if job.status in waiting:
                role = job.cast.filter(license_id=license_id).values_list("role", flat=True).first()
                message = "The talent revoked the license."
                job_finish(job, RenderJob.Status.CANCELLED, "license_revoked",
                           f"role {role}: {message}" if role else message, actor)
                cancelled.append(str(job.id))
    return cancelled


def render_jobs_reap() -> dict[str, int]:
    return RENDERS.reap()
