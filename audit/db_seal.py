"""The seal as one PostgreSQL function: a single round trip after each commit.

`audit_seal_pending(batch, wait, durable)` chains up to `batch` pending events onto the
head, in id order, with the same link as audit.chain.entry_hash (SHA-256 over the previous
entry hash and the leaf hash, both as bytes), and returns how many it sealed: 0 when none
was pending, -1 when `wait` is false and another transaction holds the head. Called on
its own (autocommit), it is a transaction that locks the head last and briefly. SQLite
seals in Python instead (audit.services), one writer at a time anyway.

With `durable` false its commit does not wait for the disk (synchronous_commit off, for
this transaction only). A seal lost in a crash leaves its events pending, as they were,
and the next seal seals them again: the events themselves were committed durably by their
writers. Whatever leaves the database with sequence numbers (checkpoints, exports) first
runs a durable seal: it locks the head even with nothing to seal, so its commit flushes
the log, and with it every earlier seal (the log is flushed in order).
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

from audit.models import GENESIS_HASH

_CREATE = f"""
CREATE OR REPLACE FUNCTION audit_seal_pending(batch integer, wait boolean, durable boolean) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    head_seq bigint;
    head_hash varchar(64);
    sealed integer := 0;
    pending record;
BEGIN
    IF NOT durable AND NOT EXISTS (SELECT 1 FROM audit_auditevent WHERE seq IS NULL) THEN
        RETURN 0;
    END IF;
    IF wait THEN
        SELECT seq, entry_hash INTO head_seq, head_hash FROM audit_auditchainhead WHERE id = 1 FOR UPDATE;
    ELSE
        SELECT seq, entry_hash INTO head_seq, head_hash FROM audit_auditchainhead WHERE id = 1 FOR UPDATE SKIP LOCKED;
        IF NOT FOUND AND EXISTS (SELECT 1 FROM audit_auditchainhead WHERE id = 1) THEN
            RETURN -1;
        END IF;
    END IF;
    IF NOT durable THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    IF head_seq IS NULL THEN
        INSERT INTO audit_auditchainhead (id, seq, entry_hash) VALUES (1, 0, '{GENESIS_HASH}')
            ON CONFLICT (id) DO NOTHING;
        SELECT seq, entry_hash INTO head_seq, head_hash FROM audit_auditchainhead WHERE id = 1 FOR UPDATE;
    END IF;
    FOR pending IN SELECT id, leaf_hash FROM audit_auditevent WHERE seq IS NULL ORDER BY id LIMIT batch LOOP
        UPDATE audit_auditevent
           SET seq = head_seq + 1, prev_hash = head_hash,
               entry_hash = encode(sha256(decode(head_hash, 'hex') || decode(pending.leaf_hash, 'hex')), 'hex')
         WHERE id = pending.id
        RETURNING seq, entry_hash INTO head_seq, head_hash;
        sealed := sealed + 1;
    END LOOP;
    IF sealed > 0 THEN
        UPDATE audit_auditchainhead SET seq = head_seq, entry_hash = head_hash WHERE id = 1;
    END IF;
    RETURN sealed;
END $$
"""
_DROP = "DROP FUNCTION IF EXISTS audit_seal_pending(integer, boolean, boolean)"


def install_seal_function(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_CREATE)


def remove_seal_function(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_DROP)


def seal_pending_in_database(connection: BaseDatabaseWrapper, *, batch: int, wait: bool, durable: bool) -> int | None:
    """How many events the function sealed; None when another transaction holds the head."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT audit_seal_pending(%s, %s, %s)", [batch, wait, durable])
        sealed = cursor.fetchone()[0]
    return None if sealed < 0 else sealed
