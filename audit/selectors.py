"""Reads of the audit log."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from audit import chain
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent


def audit_events_for_subject(*, subject: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(subject=subject).order_by("seq")


def audit_chain_rows() -> Iterator[chain.ChainRow]:
    fields = ("seq", "occurred_at", "action", "actor", "subject", "body", "leaf_hash", "prev_hash", "entry_hash")
    for values in AuditEvent.objects.order_by("seq").values_list(*fields).iterator(chunk_size=2000):
        yield chain.ChainRow(*values)


def audit_chain_verify() -> chain.ChainReport:
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "entry_hash").first() or (0, GENESIS_HASH)
    return chain.verify_rows(audit_chain_rows(), head_seq=head[0], head_hash=head[1])
