"""The append-only, hash-chained audit log (invariant 2).

Each event's body is canonical JSON (RFC 8785) stored exactly as hashed. Leaves use
RFC 6962 domain separation, and each entry hash chains the previous one:

    leaf_hash  = SHA-256(0x00 || body)
    entry_hash = SHA-256(prev_entry_hash || leaf_hash)

Bodies hold pseudonymous references only (ids, codes, hashes), never personal data,
so erasing a person never requires touching the chain.
"""

from __future__ import annotations

from django.db import models

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    seq = models.PositiveBigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField()
    action = models.CharField(max_length=64)
    actor = models.CharField(max_length=80)
    subject = models.CharField(max_length=120)
    body = models.TextField()
    leaf_hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["subject", "seq"]), models.Index(fields=["action", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.subject}"


class AuditChainHead(models.Model):
    """The single row that serialises appends: its lock orders the chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"head at #{self.seq}"
