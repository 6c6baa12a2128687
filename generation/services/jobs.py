"""The request skeleton shared by render and training jobs, over the lease machinery.

A `JobKind` names what differs between them (the row, the worker task, the use the
consent gate is asked about); the rest is one way of doing it: a request is put to the
gate and becomes a job in one transaction, a queued job is handed to the workers when
that commits, and a worker asks the gate again when it claims the job and as it runs.
"""

from __future__ import annotations

from collections.abc import Callable
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
    if not gate.requester_is_licensee(user_id=acting_user.pk, license_id=license_id):
        raise NotAllowed(message, code="not_found")


class JobKind(Generic[Job]):
    """One kind of leased job: its model, the Celery task that runs it, and the use it makes of a license."""

    def __init__(self, *, model: type[Job], task_name: str, use: Callable[[Job], gate.UseRequest]) -> None:
        self.model = model
        self.task_name = task_name
        self.use = use

    def enqueue(self, job_id: str) -> None:
        queue.job_enqueue(self.task_name, str(job_id))

    def request(self, *, license_id: str, use: gate.UseRequest, acting_user: AbstractBaseUser,
                create: Callable[[str], Job]) -> Job:
        """Ask the gate, and when it allows, ``create(actor)`` the job in the same transaction.

        A queued job is handed to the workers once that commits (one awaiting an approval
        is not); a refusal, which the gate has audited, raises `gate.ConsentRefused`.
        """
        actor = user_actor(acting_user)
        with transaction.atomic():
            decision = gate.check(use=use, stage=gate.Stage.REQUEST, actor=actor, subject=f"license:{license_id}")
            job = create(actor) if decision.allowed else None
            if job is not None and job.status == LeasedJob.Status.QUEUED:
                enqueue_on_commit(self.enqueue, job.id)
        if job is None:
            raise gate.ConsentRefused(decision)
        return job

    def gate_refusal(self, job: Job, stage: gate.Stage) -> tuple[str, str] | None:
        """None while the gate still allows the job's use at this stage, else (reason, message)."""
        decision = gate.check(use=self.use(job), stage=stage, actor=SYSTEM_WORKER, subject=job.audit_subject)
        return None if decision.allowed else (str(decision.reason), decision.message)

    def claim(self, *, job_id: str, worker: str) -> Job | None:
        return job_claim(self.model, job_id=job_id, worker=worker,
                         admit=lambda job: self.gate_refusal(job, gate.Stage.CLAIM))

    def checkpoint(self, *, job_id: str, attempt: int, step: int, total: int, **fields: object) -> None:
        """Progress and lease, then cancellation and the consent gate (raises RenderStopped)."""
        job_checkpoint(self.model, job_id=job_id, attempt=attempt, step=step, total=total,
                       still_allowed=lambda job: self.gate_refusal(job, gate.Stage.STEP), **fields)

    def attempt_crashed(self, *, job_id: str, attempt: int, error: BaseException) -> None:
        """Retry the job while attempts remain, otherwise fail it."""
        job_fail_attempt(self.model, job_id=job_id, attempt=attempt, code="error",
                         message=f"{type(error).__name__}: {error}"[:2000], enqueue=self.enqueue)

    def reap(self) -> dict[str, int]:
        return jobs_reap(self.model, enqueue=self.enqueue)
