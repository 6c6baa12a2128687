"""One lock order for the whole system (DESIGN invariant 8).

Within a transaction, rows are locked in this order, and rows of one kind in primary-key
order:

    talent row (erasure) -> license rows -> likeness-model rows -> job rows -> audit chain head

Two transactions that lock in this order can wait for each other but never deadlock. The
audit chain head comes last and only the short transaction that seals committed events
takes it (audit.services.audit_seal), never a business transaction.

`claim` and `lock_rows` record, per transaction, the highest rank locked so far and the
rows held, and refuse a lock of a lower rank after it (LockOrderError: a programming
error, so the transaction fails and nothing is half-done), unless every row asked for is
already held: locking a held row again waits for nothing. To lock several rows of one
kind, lock them in one `lock_rows` call, which orders them. This module imports no app.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)

_STATE = "_bespoke_lock_order"  # attribute on the connection holding a _TransactionLocks


class Rank(IntEnum):
    TALENT = 10
    LICENSE = 20
    LIKENESS_MODEL = 30
    JOB = 40
    AUDIT_HEAD = 50


class LockOrderError(RuntimeError):
    """A lock taken against the lock order: a bug that could deadlock under load."""


@dataclass
class _TransactionLocks:
    transaction: tuple[object, object]
    highest: Rank
    held: dict[Rank, set[str]] = field(default_factory=dict)


def claim(rank: Rank, *, rows: Iterable[Any] | None = None, using: str = DEFAULT_DB_ALIAS) -> None:
    """Record that the current transaction is about to lock rows of `rank` (their primary
    keys in `rows`, when known); raise LockOrderError if it already locked a higher rank
    and these rows are not all held already."""
    connection = connections[using]
    locks = _locks(connection, create=True)
    if locks is None:
        return  # no transaction of the application's own: select_for_update refuses to run there anyway
    keys = None if rows is None else {str(row) for row in rows}
    if rank < locks.highest and (keys is None or not keys <= locks.held.get(rank, set())):
        raise LockOrderError(f"{rank.name.lower()} rows locked after {locks.highest.name.lower()} rows in one "
                             "transaction; the lock order is talent, licenses, likeness models, jobs, audit head "
                             "(core.locking)")
    locks.highest = max(locks.highest, rank)
    locks.held.setdefault(rank, set()).update(keys or ())


def lock_rows(queryset: QuerySet[M], rank: Rank) -> list[M]:
    """Lock the rows of a `select_for_update()` queryset in primary-key order, after checking
    the lock order. The queryset says what it locks (`of=...`); this says when."""
    if not queryset.query.select_for_update:
        raise LockOrderError("lock_rows needs a select_for_update() queryset")
    claim(rank, using=queryset.db)
    rows = list(queryset.order_by("pk"))
    locks = _locks(connections[queryset.db], create=False)
    if locks is not None:
        locks.held.setdefault(rank, set()).update(str(row.pk) for row in rows)
    return rows


def highest_rank(*, using: str = DEFAULT_DB_ALIAS) -> Rank | None:
    """The highest rank the current transaction has locked, None when it locked nothing."""
    locks = _locks(connections[using], create=False)
    return None if locks is None else locks.highest


def in_transaction(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether a transaction of the application's own is open (a TestCase's does not count)."""
    return _current_transaction(connections[using]) is not None


def _locks(connection: Any, *, create: bool) -> _TransactionLocks | None:
    current = _current_transaction(connection)
    if current is None:
        return None
    locks: _TransactionLocks | None = getattr(connection, _STATE, None)
    if locks is None or locks.transaction[0] is not current[0] or locks.transaction[1] is not current[1]:
        if not create:
            return None
        locks = _TransactionLocks(current, Rank(min(Rank)))
        setattr(connection, _STATE, locks)
    return locks


def _current_transaction(connection: Any) -> tuple[object, object] | None:
    """What identifies the current transaction: the atomic block that opened it, and an
    object that lives exactly as long as it does.

    Blocks a TestCase opens around a test are skipped (as Django's `durable` check skips
    them), so each service call inside a test is its own transaction, as in production. A
    decorated function reuses one atomic block object for every call, so the block alone
    is not enough: inside a test the block's savepoint name is a new string at each entry;
    for a real transaction, Django replaces `run_on_commit` with a new list when it ends.
    """
    blocks = getattr(connection, "atomic_blocks", [])
    without_savepoint = len(blocks) - len(connection.savepoint_ids)  # the block that began the transaction
    for depth, block in enumerate(blocks):
        if getattr(block, "_from_testcase", False):
            continue
        savepoint = connection.savepoint_ids[depth - without_savepoint] if depth >= without_savepoint else None
        return block, savepoint if savepoint is not None else connection.run_on_commit
    return None
