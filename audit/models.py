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
    """One event. It is written in the transaction of the change it records, and takes its
    place in the chain (`seq`, `prev_hash`, `entry_hash`) once, when it is sealed
    (audit.services); until then those are empty. Only sealed events are in the chain."""

    id = models.BigAutoField(primary_key=True)
    seq = models.PositiveBigIntegerField(null=True, unique=True)
    occurred_at = models.DateTimeField()
    action = models.CharField(max_length=64)
    actor = models.CharField(max_length=80)
    subject = models.CharField(max_length=120)
    body = models.TextField()
    leaf_hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64, blank=True, default="")
    entry_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["subject", "seq"]), models.Index(fields=["action", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq or 'pending'} {self.action} {self.subject}"


class AuditChainHead(models.Model):
    """The single row that orders the chain: only the short seal transaction locks it."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"head at #{self.seq}"


class AuditVerifiedPosition(models.Model):
    """The single row recording how far the chain was last verified: the event at `seq` had
    entry hash `entry_hash` at `verified_at`. The portal's audit page checks only the events
    after it (the row is as trustworthy as the database: the signed checkpoints, not this
    row, are what `audit_verify` relies on)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    verified_at = models.DateTimeField()
    # The size of the newest signed checkpoint the log matched then: the next verification
    # lists the checkpoint store from there, not from the first of a year of checkpoints.
    checkpoint_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"verified through #{self.seq}"
