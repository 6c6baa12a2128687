"""Thin Celery tasks for consent."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="consent.tasks.likeness_models_sweep", ignore_result=True)
def likeness_models_sweep() -> None:
    from audit.actors import SYSTEM_REAPER
    from consent.likeness import likeness_models_sweep as sweep

    sweep(actor=SYSTEM_REAPER)
