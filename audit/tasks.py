"""Thin Celery tasks for the audit log."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="audit.tasks.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> None:
    from audit.checkpoints import audit_checkpoint_write

    audit_checkpoint_write()
