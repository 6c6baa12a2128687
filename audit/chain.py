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


# --- Verifying fast ---------------------------------------------------------------------------
# Re-canonicalising each body with rfc8785 (pure Python) was most of a full pass. For the
# bodies the log holds (ASCII text, integers, booleans, null) the C JSON encoder with sorted
# keys and no spaces writes exactly the RFC 8785 form; a body outside that set (a float, an
# integer near 2**53, any non-ASCII character) is checked by rfc8785 itself.

_FAST_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class _NotPlain(Exception):
    """A number the fast path leaves to rfc8785: a float, or an integer of 16 digits or more."""


def _refuse_float(text: str) -> float:
    raise _NotPlain


def _short_int(text: str) -> int:
    if len(text) > 15:
        raise _NotPlain
    return int(text)


_FAST_DECODER = json.JSONDecoder(parse_float=_refuse_float, parse_int=_short_int)


def _canonical_document(body: str) -> Any:
    """The parsed body; ValueError naming the problem when it is not canonical JSON."""
    if body.isascii():
        try:
            document = _FAST_DECODER.decode(body)
        except _NotPlain:
            pass
        except ValueError:
            raise ValueError("body is not valid JSON") from None
        else:
            if _FAST_ENCODER.encode(document) != body:
                raise ValueError("body is not in canonical form")
            return document
    try:
        document = json.loads(body)
    except ValueError:
        raise ValueError("body is not valid JSON") from None
    try:
        canonical = rfc8785.dumps(document).decode("utf-8")
    except Exception:  # e.g. an integer JSON numbers cannot hold exactly: not canonical either
        raise ValueError("body is not in canonical form") from None
    if canonical != body:
        raise ValueError("body is not in canonical form")
    return document


# (seq, occurred_at, action, actor, subject, body, leaf_hash, prev_hash, entry_hash), as
# selectors.CHAIN_FIELDS reads them: tuples, so a pass makes no object per event.
RowValues = tuple[int, datetime, str, str, str, str, str, str, str]


def verify_values(rows: Iterable[RowValues], *, head_seq: int, head_hash: str, after_seq: int = 0,
                  after_hash: str = GENESIS_HASH) -> ChainReport:
    """Walk the chain from the event after `after_seq` (whose entry hash is `after_hash`;
    genesis by default) to the head, over tuples; report the first sequence number that breaks
    it. `events` is the last sequence number found good."""
    expected_seq = after_seq + 1
    prev = after_hash
    for row in rows:
        seq = row[0]
        if seq != expected_seq:
            return ChainReport(False, expected_seq - 1, expected_seq, f"event {expected_seq} is missing (next stored is {seq})")
        problem = _values_problem(row, prev)
        if problem:
            return ChainReport(False, expected_seq - 1, seq, problem)
        prev = row[8]
        expected_seq += 1
    last_seq = expected_seq - 1
    if head_seq != last_seq or (last_seq and head_hash != prev):
        return ChainReport(False, last_seq, last_seq + 1 if head_seq > last_seq else head_seq + 1,
                           f"the chain head records {head_seq} events but {last_seq} are stored")
    return ChainReport(True, last_seq)


def _values_problem(row: RowValues, prev: str) -> str:
    seq, occurred_at, action, actor, subject, body, stored_leaf, prev_hash, entry = row
    try:
        document = _canonical_document(body)
    except ValueError as exc:
        return str(exc)
    if not isinstance(document, dict):
        return "body is not a JSON object"
    version = document.get("v")
    if type(version) is not int or version not in (1, BODY_VERSION):
        return f"body has unknown version {version!r}"
    if version not in _VERSIONS_WITH_SEQ and "seq" in document:
        return "body holds a sequence number its version does not have"
    if document.get("at") != occurred_at.isoformat(timespec="microseconds"):
        return "column 'at' does not match the hashed body"
    for key, value in (("action", action), ("actor", actor), ("subject", subject)):
        if document.get(key) != value:
            return f"column {key!r} does not match the hashed body"
    if version in _VERSIONS_WITH_SEQ and document.get("seq") != seq:
        return "column 'seq' does not match the hashed body"
    computed_leaf = leaf_hash(body)
    if stored_leaf != computed_leaf:
        return "body does not match its leaf hash"
    if prev_hash != prev:
        return "previous-hash link is broken"
    if entry != entry_hash(prev, computed_leaf):
        return "entry hash does not match"
    return ""
