"""Pure hashing and verification of the audit chain (no database access)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785

from audit.models import GENESIS_HASH

BODY_VERSION = 2
# Version 1 bodies also held the event's sequence number; from version 2 an event's place
# is given only by the chain (its entry hash commits to every event before it), so the
# body is complete, and hashed, before the event is sealed. Both versions verify.
_VERSIONS_WITH_SEQ = {1}


def canonical_body(*, occurred_at: datetime, action: str, actor: str, subject: str, data: dict[str, Any]) -> str:
    document = {
        "v": BODY_VERSION,
        "at": occurred_at.isoformat(timespec="microseconds"),
        "action": action,
        "actor": actor,
        "subject": subject,
        "data": data,
    }
    return rfc8785.dumps(document).decode("utf-8")


def leaf_hash(body: str) -> str:
    return hashlib.sha256(b"\x00" + body.encode("utf-8")).hexdigest()


def entry_hash(prev_hash: str, leaf: str) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + bytes.fromhex(leaf)).hexdigest()


@dataclass(frozen=True)
class ChainRow:
    seq: int
    occurred_at: datetime
    action: str
    actor: str
    subject: str
    body: str
    leaf_hash: str
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify_rows(rows: Iterable[ChainRow], *, head_seq: int, head_hash: str) -> ChainReport:
    """Walk the chain from genesis; report the first sequence number that breaks it."""
    expected_seq = 1
    prev = GENESIS_HASH
    for row in rows:
        if row.seq != expected_seq:
            return ChainReport(False, expected_seq - 1, expected_seq, f"event {expected_seq} is missing (next stored is {row.seq})")
        problem = _row_problem(row, prev)
        if problem:
            return ChainReport(False, expected_seq - 1, row.seq, problem)
        prev = row.entry_hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if head_seq != last_seq or (last_seq and head_hash != prev):
        return ChainReport(False, last_seq, last_seq + 1 if head_seq > last_seq else head_seq + 1,
                           f"the chain head records {head_seq} events but {last_seq} are stored")
    return ChainReport(True, last_seq)


def _row_problem(row: ChainRow, prev: str) -> str:
    try:
        document = json.loads(row.body)
    except ValueError:
        return "body is not valid JSON"
    if rfc8785.dumps(document).decode("utf-8") != row.body:
        return "body is not in canonical form"
    if not isinstance(document, dict):
        return "body is not a JSON object"
    if type(document.get("v")) is not int or document["v"] not in (1, BODY_VERSION):
        return f"body has unknown version {document.get('v')!r}"
    columns = {"at": row.occurred_at.isoformat(timespec="microseconds"), "action": row.action, "actor": row.actor,
               "subject": row.subject}
    if document["v"] in _VERSIONS_WITH_SEQ:
        columns["seq"] = row.seq
    elif "seq" in document:
        return "body holds a sequence number its version does not have"
    for key, value in columns.items():
        if document.get(key) != value:
            return f"column {key!r} does not match the hashed body"
    if row.leaf_hash != leaf_hash(row.body):
        return "body does not match its leaf hash"
    if row.prev_hash != prev:
        return "previous-hash link is broken"
    if row.entry_hash != entry_hash(prev, row.leaf_hash):
        return "entry hash does not match"
    return ""
