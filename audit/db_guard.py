"""Database-level refusal of UPDATE, DELETE and TRUNCATE on the audit log.

Installed by a migration on PostgreSQL and SQLite. An event may be updated exactly once:
when it is sealed, its empty `seq`, `prev_hash` and `entry_hash` are filled and nothing
else changes. The chain head may only move forward, and only onto a stored event.
`audit_maintenance` is the one deliberate way around the guard, for the test runner's
table flush: on PostgreSQL it needs superuser rights (session_replication_role), which
the application's runtime role must not have.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.backends.base.base import BaseDatabaseWrapper

APPEND_ONLY_MESSAGE = "audit events are append-only"

# The one update the guard lets through: the seal of a pending event.
_SEAL_ONLY = """OLD.seq IS NULL AND NEW.seq IS NOT NULL AND OLD.prev_hash = '' AND OLD.entry_hash = ''
    AND length(NEW.prev_hash) = 64 AND length(NEW.entry_hash) = 64 AND NEW.id = OLD.id
    AND NEW.occurred_at = OLD.occurred_at AND NEW.action = OLD.action AND NEW.actor = OLD.actor
    AND NEW.subject = OLD.subject AND NEW.body = OLD.body AND NEW.leaf_hash = OLD.leaf_hash"""
_HEAD_MOVES_ONTO_A_STORED_EVENT = """NEW.id = OLD.id AND NEW.seq > OLD.seq AND EXISTS (
    SELECT 1 FROM audit_auditevent WHERE seq = NEW.seq AND entry_hash = NEW.entry_hash)"""

_SQLITE_CREATE = [
    f"""CREATE TRIGGER IF NOT EXISTS audit_event_seal_only BEFORE UPDATE ON audit_auditevent
        WHEN NOT ({_SEAL_ONLY}) BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_auditevent
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_head_advance_only BEFORE UPDATE ON audit_auditchainhead
        WHEN NOT ({_HEAD_MOVES_ONTO_A_STORED_EVENT}) BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_auditchainhead
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END""",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_event_no_update",  # the guard before events were sealed after commit
    "DROP TRIGGER IF EXISTS audit_event_seal_only",
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
    "DROP TRIGGER IF EXISTS audit_head_advance_only",
    "DROP TRIGGER IF EXISTS audit_head_no_delete",
]

_POSTGRES_CREATE = [
    f"""CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$""",
    f"""CREATE OR REPLACE FUNCTION audit_event_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT ({_SEAL_ONLY}) THEN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$""",
    f"""CREATE OR REPLACE FUNCTION audit_head_advance_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT ({_HEAD_MOVES_ONTO_A_STORED_EVENT}) THEN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$""",
    """CREATE TRIGGER audit_event_seal_only BEFORE UPDATE ON audit_auditevent
        FOR EACH ROW EXECUTE FUNCTION audit_event_seal_only()""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_auditevent
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_head_advance_only BEFORE UPDATE ON audit_auditchainhead
        FOR EACH ROW EXECUTE FUNCTION audit_head_advance_only()""",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_auditchainhead
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_auditchainhead
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
]
_POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS audit_event_no_change ON audit_auditevent",  # the guard before events were sealed after commit
    "DROP TRIGGER IF EXISTS audit_event_seal_only ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_event_no_delete ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_head_advance_only ON audit_auditchainhead",
    "DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_auditchainhead",
    "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_auditchainhead",
    "DROP FUNCTION IF EXISTS audit_refuse_change()",
    "DROP FUNCTION IF EXISTS audit_event_seal_only()",
    "DROP FUNCTION IF EXISTS audit_head_advance_only()",
]


def _statements(connection: BaseDatabaseWrapper, *, create: bool) -> list[str]:
    if connection.vendor == "postgresql":
        return _POSTGRES_CREATE if create else _POSTGRES_DROP
    if connection.vendor == "sqlite":
        return _SQLITE_CREATE if create else _SQLITE_DROP
    raise NotImplementedError(f"the audit guard supports PostgreSQL and SQLite, not {connection.vendor}")


def install_guard(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection, create=True):
            cursor.execute(statement)


def remove_guard(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection, create=False):
            cursor.execute(statement)


@contextmanager
def audit_maintenance(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """Lift the guard for a privileged maintenance operation (the test runner's flush)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")
    else:
        with connection.cursor() as cursor:
            for statement in _SQLITE_DROP:
                cursor.execute(statement)
        try:
            yield
        finally:
            install_guard(connection)
