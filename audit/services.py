"""Writes to the audit log. Call `audit_append` inside the transaction of the change it records."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import chain
from audit.models import AuditChainHead, AuditEvent


def audit_append(*, action: str, actor: str, subject: str, data: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction.

    The head row's lock orders concurrent appends; it is held until the caller's
    transaction commits, so call this last in a service.
    """
    if not actor:
        raise ValueError("every audit event needs an actor")
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        seq = head.seq + 1
        occurred_at = timezone.now()
        body = chain.canonical_body(seq=seq, occurred_at=occurred_at, action=action, actor=actor,
                                    subject=subject, data=data or {})
        leaf = chain.leaf_hash(body)
        entry = chain.entry_hash(head.entry_hash, leaf)
        event = AuditEvent.objects.create(
            seq=seq, occurred_at=occurred_at, action=action, actor=actor, subject=subject,
            body=body, leaf_hash=leaf, prev_hash=head.entry_hash, entry_hash=entry,
        )
        AuditChainHead.objects.filter(pk=1).update(seq=seq, entry_hash=entry)
    return event
