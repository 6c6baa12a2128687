"""Reads of the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import F, Max, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from audit import chain
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent, AuditVerifiedPosition


def audit_events_for_subject(*, subject: str) -> QuerySet[AuditEvent]:
    return audit_events_sealed().filter(subject=subject).order_by("seq")


def audit_events_sealed() -> QuerySet[AuditEvent]:
    """The events in the chain; one appended moments ago may still wait for its seal."""
    return AuditEvent.objects.filter(seq__isnull=False)


def audit_events_pending(*, occurred_before: datetime) -> QuerySet[AuditEvent]:
    """Events still waiting for their seal that occurred before `occurred_before`."""
    return AuditEvent.objects.filter(seq__isnull=True, occurred_at__lt=occurred_before)


CHAIN_FIELDS = ("seq", "occurred_at", "action", "actor", "subject", "body", "leaf_hash", "prev_hash", "entry_hash")
CHAIN_CHUNK = 5000  # rows per fetch while a verification streams the log


def audit_chain_rows() -> Iterator[chain.ChainRow]:
    for values in audit_chain_values():
        yield chain.ChainRow(*values)


def audit_chain_values(*, after_seq: int = 0, through_seq: int | None = None) -> Iterator[chain.RowValues]:
    """The sealed events after `after_seq` (and up to `through_seq`) in chain order, as plain
    tuples of CHAIN_FIELDS."""
    events = audit_events_sealed().filter(seq__gt=after_seq) if after_seq else audit_events_sealed()
    if through_seq is not None:
        events = events.filter(seq__lte=through_seq)
    return events.order_by("seq").values_list(*CHAIN_FIELDS).iterator(chunk_size=CHAIN_CHUNK)


def audit_chain_head() -> tuple[int, str]:
    """(sequence number, entry hash) of the chain head; (0, genesis) for an empty log."""
    return AuditChainHead.objects.filter(pk=1).values_list("seq", "entry_hash").first() or (0, GENESIS_HASH)


def audit_chain_head_and_last_stored() -> tuple[int, str, int]:
    """The chain head (sequence number, entry hash) and the highest sequence number stored,
    read in one statement, so from one snapshot: a seal moves both in one transaction, so an
    event stored after the head is one no seal wrote. A verification walks up to the head it
    read; events sealed while it walks are the next one's."""
    last_stored = Subquery(audit_events_sealed().order_by("-seq").values("seq")[:1])
    row = AuditChainHead.objects.filter(pk=1).annotate(last_stored=last_stored).values_list(
        "seq", "entry_hash", "last_stored").first()
    if row is None:
        return 0, GENESIS_HASH, audit_last_sealed_seq()
    return row[0], row[1], row[2] or 0


def audit_entry_hashes_at(seqs: Iterable[int]) -> dict[int, str]:
    """The stored entry hash of each of these sealed events (missing ones are left out)."""
    return dict(AuditEvent.objects.filter(seq__in=list(seqs)).values_list("seq", "entry_hash"))


def audit_events_sealed_between(*, after: int, through: int) -> int:
    """How many sealed events have a sequence number after `after` and up to `through`."""
    return AuditEvent.objects.filter(seq__gt=after, seq__lte=through).count()


def audit_last_sealed_seq() -> int:
    """The highest sequence number stored (0 for an empty log)."""
    return audit_events_sealed().aggregate(last=Max("seq"))["last"] or 0


def audit_verified_position() -> AuditVerifiedPosition | None:
    """Where the last successful verification got to, if one ran."""
    return AuditVerifiedPosition.objects.filter(pk=1).first()


def audit_chain_verify() -> chain.ChainReport:
    head_seq, head_hash, last_stored = audit_chain_head_and_last_stored()
    report = chain.verify_values(audit_chain_values(through_seq=head_seq), head_seq=head_seq, head_hash=head_hash)
    if report.ok and last_stored > head_seq:
        return chain.ChainReport(False, head_seq, head_seq + 1, STORED_AFTER_HEAD.format(last=last_stored, head=head_seq))
    return report


STORED_AFTER_HEAD = "event #{last} is stored after the chain head #{head}: no seal wrote it"


def audit_events_search(*, within: Iterable[QuerySet | RawSQL | list[str]] | None = None, action: str = "",
                        subject: str = "", actor: str = "", occurred_from: datetime | None = None,
                        occurred_before: datetime | None = None, seq_from: int | None = None,
                        seq_to: int | None = None) -> QuerySet[AuditEvent]:
    """Events newest first, narrowed by each filter given. `within` lists the subjects the
    caller may see (querysets or compiled subqueries of subject strings, OR-ed); None means
    every subject.
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


def audit_events_newest_first(events: QuerySet[AuditEvent], *, matching: int, through: int) -> QuerySet[AuditEvent]:
    """A search's events (`matching` of them, already counted) newest first, ordered so that
    the database reads its first `through` events the faster way.

    Walking the log's sequence index backwards finds `through` matches after about
    through x log size / matching events (evenly spread; a busy studio's newest events sit
    at the head, sooner still): quick when the matches are dense, the whole log when they
    are a small studio's few events among millions (0.3 s at 1,000,000). Fetching the
    matches by their subject index and sorting them costs only the matches, but each about
    WALK_TO_SORT times a walked event (a heap fetch of a wide row against the next index
    entry), so it is chosen only when the walk would cost more. Ordering by an expression
    keeps the planner off the sequence index."""
    if matching and through * audit_chain_head()[0] > WALK_TO_SORT * matching * matching:
        return events.order_by((F("seq") + 0).desc())
    return events.order_by("-seq")


WALK_TO_SORT = 16  # PostgreSQL, 2 cores: 0.3 us an event walked, about 5 us an event fetched and sorted
