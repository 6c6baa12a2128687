"""Handing jobs to the workers, by task name.

The services enqueue through here and never import the Celery tasks (generation.tasks),
which are the thin entry points that call the services: the dependency runs one way.
"""

from __future__ import annotations

from celery import current_app

RENDER_JOB_RUN = "generation.tasks.render_job_run"
TRAINING_JOB_RUN = "generation.tasks.training_job_run"
JOBS_REAP = "generation.tasks.jobs_reap"


def job_enqueue(task_name: str, job_id: str) -> None:
    """Send one job id to the named task (routed by ``CELERY_TASK_ROUTES`` like any other)."""
    current_app.send_task(task_name, args=[job_id])
