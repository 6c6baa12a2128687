"""Writes to the audit log.

`audit_append` records an event in the caller's transaction, so the event commits exactly
when the change it records commits (invariant 2), and takes no lock: audited writes do
not wait on each other. After the commit, `audit_seal` gives committed events their
place in the chain (sequence number, previous hash, entry hash) in one short transaction
of its own that locks the chain head last (invariant 8), many events at a time. The seal
runs after every commit that appended, from the beat schedule (for an event whose writer
died between its commit and its seal), and before audit_verify, audit_export and each
checkpoint.

Tests that run inside one transaction never commit, so nothing would seal their events;
they set BESPOKE_AUDIT_SEAL_AT_APPEND, which seals inside the appending transaction and
so holds the chain head until it commits. Production never sets it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit import chain
from audit.db_seal import seal_pending_in_database
from audit.models import AuditChainHead, AuditEvent
from core.locking import in_transaction

SEAL_BATCH = 500  # events sealed per transaction
SEAL_ROUNDS = 20  # transactions one seal call runs at most; the beat schedule seals the rest


def audit_append(*, action: str, actor: str, subject: str, data: dict[str, Any] | None = None) -> AuditEvent:
    """Record one event in the caller's transaction; it is sealed into the chain after
    the transaction commits (until then `seq` is None)."""
    if not actor:
        raise ValueError("every audit event needs an actor")
    occurred_at = timezone.now()
    body = chain.canonical_body(occurred_at=occurred_at, action=action, actor=actor, subject=subject, data=data or {})
    event = AuditEvent(occurred_at=occurred_at, action=action, actor=actor, subject=subject, body=body,
                       leaf_hash=chain.leaf_hash(body))
    if getattr(settings, "BESPOKE_AUDIT_SEAL_AT_APPEND", False):
        return _save_sealed(event)
    event.save()
    _seal_after_commit()
    return event


def _save_sealed(event: AuditEvent) -> AuditEvent:
    """Tests inside one transaction only (see above): seal in the caller's transaction."""
    with transaction.atomic():
        event.save()
        while _seal_batch(quick=False) == SEAL_BATCH:
            pass
        event.refresh_from_db(fields=["seq", "prev_hash", "entry_hash"])
    return event


def audit_seal(*, quick: bool = False) -> int:
    """Seal committed events, oldest first, in short transactions of their own that lock
    the chain head and nothing else; return how many. Refused inside another transaction.

    `quick` is the seal after each commit. It returns at once when another seal holds the
    head (that seal looks for pending events again after it commits, so it seals what this
    one would have), and on PostgreSQL it does not wait for the disk (audit.db_seal)."""
    if in_transaction():
        raise RuntimeError("audit_seal runs in a transaction of its own, never inside another: call it after commit")
    sealed = 0
    for _ in range(SEAL_ROUNDS):
        count = _seal_batch(quick=quick)
        if count is None:
            break
        sealed += count
        if not AuditEvent.objects.filter(seq__isnull=True).exists():  # looked again after our commit
            break
    return sealed


def _seal_after_commit() -> None:
    """Once per transaction, however many events it appends."""
    if not any(callback is _seal_committed for _, callback, _ in connection.run_on_commit):
        transaction.on_commit(_seal_committed, robust=True)  # a failed seal never undoes the committed change


def _seal_committed() -> None:
    audit_seal(quick=True)


def _seal_batch(*, quick: bool) -> int | None:
    """Seal one batch; None when `quick` and another transaction holds the head."""
    if connection.vendor == "postgresql":
        return seal_pending_in_database(connection, batch=SEAL_BATCH, wait=not quick, durable=not quick)
    with transaction.atomic():  # SQLite: one writer at a time, so there is nothing to wait for
        return len(_seal_pending_here(_lock_head()))


def _lock_head() -> AuditChainHead:
    """The head row, locked (and created when missing: a new or flushed database)."""
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        AuditChainHead.objects.get_or_create(pk=1)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def _seal_pending_here(head: AuditChainHead) -> list[AuditEvent]:
    """What audit_seal_pending does on PostgreSQL (audit.db_seal), in Python."""
    batch = list(AuditEvent.objects.filter(seq__isnull=True).order_by("id").only("id", "leaf_hash")[:SEAL_BATCH])
    seq, prev = head.seq, head.entry_hash
    for event in batch:
        seq += 1
        event.seq, event.prev_hash, event.entry_hash = seq, prev, chain.entry_hash(prev, event.leaf_hash)
        prev = event.entry_hash
    if batch:
        AuditEvent.objects.bulk_update(batch, ["seq", "prev_hash", "entry_hash"])
        AuditChainHead.objects.filter(pk=1).update(seq=seq, entry_hash=prev)
    return batch
