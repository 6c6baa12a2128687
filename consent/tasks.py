"""Thin Celery tasks for consent."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="consent.tasks.likeness_models_sweep", ignore_result=True)
def likeness_models_sweep() -> None:
    from audit.actors import SYSTEM_REAPER
    from consent.likeness import likeness_models_sweep as sweep

    sweep(actor=SYSTEM_REAPER)


@shared_task(name="consent.tasks.licenses_expire", ignore_result=True)
def licenses_expire() -> None:
    """The nightly sweep (CELERY_BEAT_SCHEDULE): record the expiry of executed licenses past
    their end date. The gate refuses them from the day after already; this writes it down."""
    from audit.actors import SYSTEM_REAPER
    from consent.services import licenses_expire as expire

    expire(actor=SYSTEM_REAPER)
