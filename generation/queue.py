"""Handing jobs to the workers, by task name.

The services enqueue through here and never import the Celery tasks (generation.tasks),
which are the thin entry points that call the services: the dependency runs one way.
"""

from __future__ import annotations

from enum import StrEnum

from celery import current_app
from django.conf import settings

RENDER_JOB_RUN = "generation.tasks.render_job_run"
TRAINING_JOB_RUN = "generation.tasks.training_job_run"
JOBS_REAP = "generation.tasks.jobs_reap"


class Priority(StrEnum):
    """How soon a worker should take a job, whatever the broker's numbers for it."""

    NORMAL = "normal"
    SPECULATIVE = "speculative"  # a scene rendered ahead that the viewer may never choose


def job_enqueue(task_name: str, job_id: str, *, priority: Priority = Priority.NORMAL) -> None:
    """Send one job id to the named task (routed by ``CELERY_TASK_ROUTES`` like any other),
    at the broker's number for ``priority`` (``BESPOKE_JOB_PRIORITIES``)."""
    current_app.send_task(task_name, args=[job_id], priority=settings.BESPOKE_JOB_PRIORITIES[str(priority)])
