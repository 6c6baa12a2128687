"""Reads of the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import Q, QuerySet

from audit import chain
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent


def audit_events_for_subject(*, subject: str) -> QuerySet[AuditEvent]:
    return audit_events_sealed().filter(subject=subject).order_by("seq")


def audit_events_sealed() -> QuerySet[AuditEvent]:
    """The events in the chain; one appended moments ago may still wait for its seal."""
    return AuditEvent.objects.filter(seq__isnull=False)


def audit_events_pending(*, occurred_before: datetime) -> QuerySet[AuditEvent]:
    """Events still waiting for their seal that occurred before `occurred_before`."""
    return AuditEvent.objects.filter(seq__isnull=True, occurred_at__lt=occurred_before)


def audit_chain_rows() -> Iterator[chain.ChainRow]:
    fields = ("seq", "occurred_at", "action", "actor", "subject", "body", "leaf_hash", "prev_hash", "entry_hash")
    for values in audit_events_sealed().order_by("seq").values_list(*fields).iterator(chunk_size=2000):
        yield chain.ChainRow(*values)


def audit_chain_verify() -> chain.ChainReport:
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "entry_hash").first() or (0, GENESIS_HASH)
    return chain.verify_rows(audit_chain_rows(), head_seq=head[0], head_hash=head[1])


def audit_events_search(*, within: Iterable[QuerySet | list[str]] | None = None, action: str = "", subject: str = "",
                        actor: str = "", occurred_from: datetime | None = None, occurred_before: datetime | None = None,
                        seq_from: int | None = None, seq_to: int | None = None) -> QuerySet[AuditEvent]:
    """Events newest first, narrowed by each filter given. `within` lists the subjects the
    caller may see (querysets of subject strings, OR-ed); None means every subject.
    `action` matches a whole action or, ending in a dot, a family ("license.")."""
    events = audit_events_sealed()
    if within is not None:
        allowed = Q(pk__in=[])
        for subjects in within:
            allowed |= Q(subject__in=subjects)
        events = events.filter(allowed)
    if action:
        events = events.filter(action__startswith=action) if action.endswith(".") else events.filter(action=action)
    if subject:
        events = events.filter(subject=subject)
    if actor:
        events = events.filter(actor=actor)
    if occurred_from is not None:
        events = events.filter(occurred_at__gte=occurred_from)
    if occurred_before is not None:
        events = events.filter(occurred_at__lt=occurred_before)
    if seq_from is not None:
        events = events.filter(seq__gte=seq_from)
    if seq_to is not None:
        events = events.filter(seq__lte=seq_to)
    return events.order_by("-seq")
