"""Thin Celery tasks for the audit log."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="audit.tasks.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> None:
    from audit.checkpoints import audit_checkpoint_write

    audit_checkpoint_write()


@shared_task(name="audit.tasks.audit_verify", ignore_result=True)
def audit_verify() -> None:
    """Verify the log from its latest signed checkpoint, counting every event before it: the
    audit page resumes from its last verification and would not see an old event deleted
    since. A failure is logged and makes the page's next load start from the checkpoints."""
    from audit.checkpoints import audit_log_verify

    result = audit_log_verify(full=False)
    if not result.ok:
        logger.error("audit log verification failed: %s", "; ".join(result.problems))


@shared_task(name="audit.tasks.audit_seal", ignore_result=True)
def audit_seal_pending() -> None:
    """Seal events whose writer stopped between its commit and its seal."""
    from audit.services import audit_seal

    audit_seal()
