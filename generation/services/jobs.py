"""The request skeleton shared by render and training jobs, over the lease machinery.

A `JobKind` names what differs between them (the row, the worker task, the uses the
consent gate is asked about: one license's, or one per role of a scene); the rest is one
way of doing it: a request is put to the gate and becomes a job in one transaction, a
queued job is handed to the workers when that commits, and a worker asks the gate again
about every use when it claims the job and as it runs (the first refusal stops it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Generic

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from audit.actors import SYSTEM_WORKER, user_actor
from core.errors import NotAllowed
from consent import gate
from generation import queue
from generation.models import LeasedJob
from generation.services.leases import (
    Job,
    enqueue_on_commit,
    job_checkpoint,
    job_claim,
    job_fail_attempt,
    jobs_reap,
)


def requester_must_be_licensee(*, license_id: str, acting_user: AbstractBaseUser, message: str) -> None:
    """Only the licensee's members may ask for work under a license; anyone else is told it is not there."""
    if not gate.requester_may_request(user_id=acting_user.pk, license_id=license_id):
        raise NotAllowed(message, code="not_found")


@dataclass(frozen=True)
class JobUse:
    """One use a job makes of a license: a scene makes one for each of its roles."""

    request: gate.UseRequest
    role: str | None = None

    def named(self, decision: gate.GateDecision) -> gate.GateDecision:
        """The gate's refusal, its message naming the role it was for (when there is one)."""
        return decision if self.role is None else replace(decision, message=f"role {self.role}: {decision.message}")


class JobKind(Generic[Job]):
    """One kind of leased job: its model, the Celery task that runs it, the uses it makes of
    licenses and, optionally, how soon a worker should take it."""

    def __init__(self, *, model: type[Job], task_name: str, uses: Callable[[Job], Sequence[JobUse]],
                 priority: Callable[[str], queue.Priority] | None = None) -> None:
        self.model = model
        self.task_name = task_name
        self.uses = uses
        self.priority = priority

    def enqueue(self, job_id: str) -> None:
        priority = self.priority(str(job_id)) if self.priority else queue.Priority.NORMAL
        queue.job_enqueue(self.task_name, str(job_id), priority=priority)

    def request(self, *, uses: Sequence[JobUse], acting_user: AbstractBaseUser, create: Callable[[str], Job]) -> Job:
        """Ask the gate about every use, and when it allows them all, ``create(actor)`` the job
        in the same transaction.

        A queued job is handed to the workers once that commits (one awaiting an approval
        is not); the first refusal, which the gate has audited, raises `gate.ConsentRefused`.
        """
        actor = user_actor(acting_user)
        with transaction.atomic():
            refusal = _first_refusal(uses, gate.Stage.REQUEST, actor,
                                     subject=lambda use: f"license:{use.request.license_id}")
            job = create(actor) if refusal is None else None
            if job is not None and job.status == LeasedJob.Status.QUEUED:
                enqueue_on_commit(self.enqueue, job.id)
        if refusal is not None:
            raise gate.ConsentRefused(refusal)
        return job

    def gate_refusal(self, job: Job, stage: gate.Stage) -> tuple[str, str] | None:
        """None while the gate still allows every use of the job at this stage, else (reason, message)."""
        refusal = _first_refusal(self.uses(job), stage, SYSTEM_WORKER, subject=lambda use: job.audit_subject)
        return None if refusal is None else (str(refusal.reason), refusal.message)

    def claim(self, *, job_id: str, worker: str) -> Job | None:
        return job_claim(self.model, job_id=job_id, worker=worker,
                         admit=lambda job: self.gate_refusal(job, gate.Stage.CLAIM))

    def checkpoint(self, *, job_id: str, attempt: int, step: int, total: int, **fields: object) -> None:
        """Progress and lease, then cancellation and the consent gate (raises RenderStopped)."""
        job_checkpoint(self.model, job_id=job_id, attempt=attempt, step=step, total=total,
                       still_allowed=lambda job: self.gate_refusal(job, gate.Stage.STEP), **fields)

    def attempt_crashed(self, *, job_id: str, attempt: int, error: BaseException) -> None:
        """Cancel the job if the gate refuses it now; else retry it while attempts remain, or fail it."""
        job_fail_attempt(self.model, job_id=job_id, attempt=attempt, code="error",
                         message=f"{type(error).__name__}: {error}"[:2000], enqueue=self.enqueue,
                         still_allowed=lambda job: self.gate_refusal(job, gate.Stage.STEP))

    def reap(self) -> dict[str, int]:
        return jobs_reap(self.model, enqueue=self.enqueue)


def _first_refusal(uses: Sequence[JobUse], stage: gate.Stage, actor: str,
                   subject: Callable[[JobUse], str]) -> gate.GateDecision | None:
    for use in uses:
        decision = gate.check(use=use.request, stage=stage, actor=actor, subject=subject(use))
        if not decision.allowed:
            return use.named(decision)
    return None
