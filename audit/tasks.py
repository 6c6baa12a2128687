"""Thin Celery tasks for the audit log."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="audit.tasks.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> None:
    from audit.checkpoints import audit_checkpoint_write

    audit_checkpoint_write()


@shared_task(name="audit.tasks.audit_seal", ignore_result=True)
def audit_seal_pending() -> None:
    """Seal events whose writer stopped between its commit and its seal."""
    from audit.services import audit_seal

    audit_seal()
