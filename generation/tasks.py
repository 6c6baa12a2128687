"""Thin Celery tasks: take ids, call one service. Safe to deliver twice (claim + fencing).

The services enqueue by these names (generation.queue) and never import this module."""

from __future__ import annotations

import os
import socket

from celery import shared_task

from generation import queue


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@shared_task(name=queue.RENDER_JOB_RUN, acks_late=True, ignore_result=True)
def render_job_run(job_id: str) -> None:
    from generation.services.render import render_job_execute

    render_job_execute(job_id=job_id, worker=worker_name())


@shared_task(name=queue.TRAINING_JOB_RUN, acks_late=True, ignore_result=True)
def training_job_run(job_id: str) -> None:
    from generation.services.training import training_job_execute

    training_job_execute(job_id=job_id, worker=worker_name())


@shared_task(name=queue.JOBS_REAP, ignore_result=True)
def jobs_reap() -> None:
    from generation.services.render import render_jobs_reap
    from generation.services.training import training_jobs_reap

    render_jobs_reap()
    training_jobs_reap()
