"""Signed Merkle checkpoints of the audit log.

The hash chain shows that each event follows the one before it; it cannot show that the
log once held more events, or that history was rewritten from some point with the
chain recomputed after it. A checkpoint is a signed statement of the RFC 6962 Merkle
Tree Hash over the first `tree_size` events' leaf hashes. Both the checkpoints and the
Ed25519 signing key live outside the database, so someone who can write the database
can neither shorten the log nor rewrite it without `audit_verify` noticing. The signed
last entry hash lets a verification start at a checkpoint instead of the first event;
only the full walk recomputes the roots.

The first half of this module is pure (Merkle math, checkpoint documents, signatures);
the second reads the database, the key files and the checkpoint store (a folder, or a
bucket of the object store: audit.checkpoint_store).

Each checkpoint is stored with its Merkle frontier (the roots of the perfect subtrees
covering its leaves), so the next checkpoint reads only the events after it. A frontier
is not signed: it is trusted only when it folds to the signed root of its checkpoint,
with exactly one node per 1 bit of the tree size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePath
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.utils import timezone

from audit import chain
from audit.checkpoint_store import CheckpointStore, CheckpointStoreError, checkpoint_store
from audit.models import GENESIS_HASH, AuditEvent, AuditVerifiedPosition
from audit.selectors import (
    STORED_AFTER_HEAD,
    audit_chain_head,
    audit_chain_head_and_last_stored,
    audit_chain_values,
    audit_entry_hashes_at,
    audit_events_pending,
    audit_events_sealed_between,
    audit_last_sealed_seq,
    audit_verified_position,
)
from audit.services import audit_seal
from core.secure_files import create_private_dir, write_new_file

logger = logging.getLogger(__name__)

# --- Merkle Tree Hash (RFC 6962, section 2.1) ----------------------------------------------

EMPTY_ROOT = hashlib.sha256(b"").digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleFrontier:
    """The roots of the perfect subtrees covering the leaves appended so far, largest
    first. Appending is amortised O(1) and the root at the current size costs O(log n),
    so one pass over the log yields the root at every checkpoint's size."""

    __slots__ = ("size", "_nodes")

    def __init__(self) -> None:
        self.size = 0
        self._nodes: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        node, size = leaf, self.size
        while size & 1:  # each trailing 1 bit is a perfect subtree as large as the carried one
            node = node_hash(self._nodes.pop(), node)
            size >>= 1
        self._nodes.append(node)
        self.size += 1

    @property
    def nodes(self) -> tuple[bytes, ...]:
        return tuple(self._nodes)

    @classmethod
    def restore(cls, size: int, nodes: Iterable[bytes]) -> MerkleFrontier:
        """The frontier of a tree of `size` leaves from its subtree roots, largest first;
        ValueError unless there is one 32-byte node for each 1 bit of `size`."""
        frontier = cls()
        frontier._nodes = list(nodes)
        if size < 0 or len(frontier._nodes) != size.bit_count() or any(
                not isinstance(node, bytes) or len(node) != 32 for node in frontier._nodes):
            raise ValueError(f"not the frontier of a tree of {size} leaves")
        frontier.size = size
        return frontier

    def root(self) -> bytes:
        """MTH of the leaves so far: splitting at the largest power of two below n is the
        same as folding the perfect subtrees from the right."""
        if not self._nodes:
            return EMPTY_ROOT
        root = self._nodes[-1]
        for node in reversed(self._nodes[:-1]):
            root = node_hash(node, root)
        return root


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """MTH over leaf hashes (each already SHA-256(0x00 || entry))."""
    frontier = MerkleFrontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


# --- Checkpoint documents ----------------------------------------------------------------

CHECKPOINT_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME_PREFIX = "checkpoint-"
_FILE_NAME = re.compile(_NAME_PREFIX + r"(\d{12,})\.json")


class CheckpointInvalid(Exception):
    """A checkpoint file that is malformed or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    version: int
    tree_size: int
    root_hash: str
    last_seq: int
    last_entry_hash: str
    created_at: str
    key_id: str

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    def signed_bytes(self) -> bytes:
        return rfc8785.dumps(asdict(self))


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def checkpoint_file_name(tree_size: int) -> str:
    return f"{_NAME_PREFIX}{tree_size:012d}.json"


def frontier_file_name(tree_size: int) -> str:
    return f"frontier-{tree_size:012d}.json"


def frontier_encode(frontier: MerkleFrontier) -> bytes:
    document = {"tree_size": frontier.size, "nodes": [node.hex() for node in frontier.nodes]}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def frontier_decode(content: bytes, checkpoint: Checkpoint) -> MerkleFrontier:
    """The frontier stored beside `checkpoint`; ValueError unless it is well formed and folds
    to the checkpoint's signed root (so no node can be changed without breaking SHA-256)."""
    try:
        document = json.loads(content)
        size, nodes = document["tree_size"], [bytes.fromhex(node) for node in document["nodes"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ValueError("is not a Merkle frontier document") from None
    if type(size) is not int or size != checkpoint.tree_size:
        raise ValueError(f"is for tree size {size!r}, not {checkpoint.tree_size}")
    frontier = MerkleFrontier.restore(size, nodes)
    if frontier.root().hex() != checkpoint.root_hash:
        raise ValueError("does not fold to the checkpoint's signed root")
    return frontier


def checkpoint_encode(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> bytes:
    signature = private_key.sign(checkpoint.signed_bytes())
    document = {"checkpoint": asdict(checkpoint), "signature": base64.b64encode(signature).decode("ascii")}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def checkpoint_decode(content: bytes, public_key: Ed25519PublicKey) -> Checkpoint:
    """Parse a checkpoint file and check its signature; raise CheckpointInvalid otherwise."""
    try:
        document = json.loads(content)
        fields, signature = document["checkpoint"], base64.b64decode(document["signature"], validate=True)
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise CheckpointInvalid("is not a checkpoint document") from None
    checkpoint = _checkpoint_fields(fields)
    if checkpoint.key_id != key_id(public_key):
        raise CheckpointInvalid(f"is signed by another key (key id {checkpoint.key_id[:16]}), "
                                "not the audit checkpoint public key")
    try:
        public_key.verify(signature, checkpoint.signed_bytes())
    except InvalidSignature:
        raise CheckpointInvalid("has an invalid signature: it was edited or forged") from None
    return checkpoint


def _checkpoint_fields(fields: Any) -> Checkpoint:
    names = {name for name in Checkpoint.__dataclass_fields__}
    if not isinstance(fields, dict) or set(fields) != names:
        raise CheckpointInvalid("is not a checkpoint document")
    integers = ("version", "tree_size", "last_seq")
    if any(type(fields[name]) is not int or fields[name] < 1 for name in integers):
        raise CheckpointInvalid("has a malformed number")
    if any(not isinstance(fields[name], str) or not _HEX64.fullmatch(fields[name])
           for name in ("root_hash", "last_entry_hash", "key_id")):
        raise CheckpointInvalid("has a malformed hash")
    try:
        datetime.fromisoformat(fields["created_at"])
    except (TypeError, ValueError):
        raise CheckpointInvalid("has a malformed time") from None
    if fields["version"] != CHECKPOINT_VERSION:
        raise CheckpointInvalid(f"has unknown version {fields['version']}")
    return Checkpoint(**fields)


# --- Keys (outside the database) -----------------------------------------------------------


def signing_key_path() -> Path:
    return Path(settings.BESPOKE_AUDIT_CHECKPOINT_KEY)


def published_public_key_path() -> Path:
    """Where the public key is published: beside the signing key."""
    return signing_key_path().with_suffix(".pub")


def checkpoint_dir() -> Path:
    """The folder checkpoints go to on the embedded default (see checkpoint_store())."""
    return Path(settings.BESPOKE_AUDIT_CHECKPOINT_DIR)


def signing_key_load() -> Ed25519PrivateKey:
    """The Ed25519 signing key; created (0600) on first use in development only."""
    path = signing_key_path()
    if not path.exists():
        if settings.PRODUCTION:
            raise ImproperlyConfigured(
                f"the audit checkpoint signing key {path} does not exist. In production it is provisioned, never "
                f"created: make one (openssl genpkey -algorithm ed25519 -out FILE), keep it outside the database "
                f"and its backups, and point BESPOKE_AUDIT_CHECKPOINT_KEY at it")
        _create_signing_key(path)
    key = _read_signing_key(path)
    _publish_public_key(key.public_key())
    return key


def verification_key_load() -> Ed25519PublicKey:
    """The explicitly configured public key, else the published one, else the signing key's."""
    configured = settings.BESPOKE_AUDIT_CHECKPOINT_PUBLIC_KEY
    path = Path(configured) if configured else published_public_key_path()
    if configured or path.exists():
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ImproperlyConfigured(f"the audit checkpoint public key {path} cannot be read: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ImproperlyConfigured(f"the audit checkpoint public key {path} is not an Ed25519 key")
        return key
    if signing_key_path().exists():
        return _read_signing_key(signing_key_path()).public_key()
    raise ImproperlyConfigured(f"no audit checkpoint public key: neither {path} nor "
                               "BESPOKE_AUDIT_CHECKPOINT_PUBLIC_KEY is there")


def _read_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"the audit checkpoint signing key {path} cannot be read: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"the audit checkpoint signing key {path} is not an Ed25519 key")
    return key


def _create_signing_key(path: Path) -> None:
    create_private_dir(path.parent)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        write_new_file(path, pem)
    except FileExistsError:
        return  # another process created it first; use theirs
    logger.info("created the audit checkpoint signing key %s", path)


def _publish_public_key(public_key: Ed25519PublicKey) -> None:
    path = published_public_key_path()
    if path.exists():
        return
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        write_new_file(path, pem, mode=0o644)
    except FileExistsError:
        pass
    except OSError as exc:  # a read-only secrets mount: verification can still use the configured key
        logger.warning("could not publish the audit checkpoint public key at %s: %s", path, exc)


# --- Writing checkpoints -------------------------------------------------------------------


class CheckpointRefused(Exception):
    """The log does not extend the last signed checkpoint: nothing is signed over it."""


@dataclass(frozen=True)
class CheckpointWritten:
    path: PurePath  # a file, or bucket/prefix/name on the object store
    location: str  # the same, as shown to people (s3://... on the object store)
    checkpoint: Checkpoint
    events_read: int  # events read to sign it: those after the previous checkpoint, when its frontier held


def _name_size(name: str) -> int:
    match = _FILE_NAME.fullmatch(name)
    assert match is not None  # checkpoint_names keeps only such names
    return int(match.group(1))


def checkpoint_names(store: CheckpointStore | None = None, *, from_size: int = 0) -> list[str]:
    """The names of the checkpoints in the store, oldest (smallest) first; with `from_size`,
    only those covering at least that many events (the store lists from there on)."""
    start_after = checkpoint_file_name(from_size).removesuffix(".json") if from_size else ""
    names = (store or checkpoint_store()).names(prefix=_NAME_PREFIX, start_after=start_after)
    return [name for name in names if _FILE_NAME.fullmatch(name)]


def audit_checkpoint_write(*, now: datetime | None = None) -> CheckpointWritten | None:
    """Sign a checkpoint of the log as it stands; None when nothing changed since the last one.

    The new events are checked along the chain and the log must still hash to the last
    checkpoint's root, so a shortened or rewritten history is refused, never signed.
    Committed events still waiting for their seal are sealed first. Only the events after
    the last checkpoint are read when its stored frontier holds (see frontier_decode);
    otherwise every event is. CheckpointStoreError when the store cannot be reached.
    """
    audit_seal()
    private_key = signing_key_load()
    public_key = private_key.public_key()
    store = checkpoint_store()
    previous = _latest_checkpoint(store, public_key)
    head_seq, head_hash = audit_chain_head()
    if head_seq == 0:
        return None
    if not AuditEvent.objects.filter(seq=head_seq, entry_hash=head_hash).exists():
        raise CheckpointRefused(f"the chain head records #{head_seq} but that event is not stored as recorded; "
                                "nothing signed (run audit_verify)")
    if previous is not None:
        name, last = previous
        if last.tree_size == head_seq and last.last_entry_hash == head_hash:
            return None
        if head_seq < last.tree_size:
            raise CheckpointRefused(f"the log ends at #{head_seq} but checkpoint {name} covers #{last.tree_size}: "
                                    "events were deleted; nothing signed")
    frontier, link = _resume_from(store, previous)
    start = frontier.size
    link = _extend(frontier, link, head_seq=head_seq, previous=previous)
    if frontier.size != head_seq or link != head_hash:
        raise CheckpointRefused(f"the stored events do not lead to the chain head at #{head_seq}; nothing signed "
                                "(run audit_verify)")
    created = (now or timezone.now()).astimezone(UTC).replace(microsecond=0)
    checkpoint = Checkpoint(
        version=CHECKPOINT_VERSION, tree_size=head_seq, root_hash=frontier.root().hex(), last_seq=head_seq,
        last_entry_hash=head_hash, created_at=created.isoformat().replace("+00:00", "Z"), key_id=key_id(public_key))
    # The frontier first: a checkpoint is then never without one (a concurrent writer's is the same tree).
    store.create(frontier_file_name(head_seq), frontier_encode(frontier))
    name = checkpoint_file_name(head_seq)
    if not store.create(name, checkpoint_encode(checkpoint, private_key)):
        return None  # a concurrent writer signed the same size first
    logger.info("audit checkpoint %s signed: #%d, root %s (%d events read)", name, head_seq, checkpoint.root_hash,
                head_seq - start)
    return CheckpointWritten(path=store.where(name), location=store.location(name), checkpoint=checkpoint,
                             events_read=head_seq - start)


def _resume_from(store: CheckpointStore, previous: tuple[str, Checkpoint] | None) -> tuple[MerkleFrontier, str]:
    """The frontier and entry hash to extend: the previous checkpoint's when its stored
    frontier holds and the event at its size still has the entry hash it signed (which
    commits to every event before it); else the empty tree at genesis. Events before it
    are not read, nor counted: the new root extends the signed tree whatever became of
    them since, and `audit_verify` is what finds an event deleted or edited there."""
    if previous is None:
        return MerkleFrontier(), GENESIS_HASH
    name, last = previous
    try:
        frontier = frontier_decode(store.read(frontier_file_name(last.tree_size)), last)
    except FileNotFoundError:
        return MerkleFrontier(), GENESIS_HASH  # signed before frontiers were kept
    except ValueError as exc:
        logger.warning("the Merkle frontier beside checkpoint %s %s: every event is read instead", name, exc)
        return MerkleFrontier(), GENESIS_HASH
    if audit_entry_hashes_at([last.tree_size]).get(last.tree_size) != last.last_entry_hash:
        raise CheckpointRefused(f"history up to #{last.tree_size} differs from the signed checkpoint {name}; "
                                "nothing signed")
    return frontier, last.last_entry_hash


def _extend(frontier: MerkleFrontier, link: str, *, head_seq: int, previous: tuple[str, Checkpoint] | None) -> str:
    """Append the events after the frontier up to the head, checking the chain of each one
    the previous checkpoint does not cover; when the walk passes that checkpoint's size, the
    root there must be the one it signed. Answers the last entry hash."""
    signed_size = previous[1].tree_size if previous else 0
    rows = (AuditEvent.objects.filter(seq__gt=frontier.size, seq__lte=head_seq).order_by("seq")
            .values_list("seq", "body", "leaf_hash", "prev_hash", "entry_hash").iterator(chunk_size=2000))
    for seq, body, stored_leaf, prev_hash, entry in rows:
        if seq != frontier.size + 1:
            raise CheckpointRefused(f"event #{frontier.size + 1} is missing; nothing signed")
        leaf = chain.leaf_hash(body)
        if seq > signed_size and (stored_leaf != leaf or prev_hash != link or entry != chain.entry_hash(link, leaf)):
            raise CheckpointRefused(f"event #{seq} breaks the audit chain; nothing signed (run audit_verify)")
        frontier.append(bytes.fromhex(leaf))
        link = entry
        if previous is not None and seq == signed_size and (
                frontier.root().hex() != previous[1].root_hash or entry != previous[1].last_entry_hash):
            raise CheckpointRefused(f"history up to #{seq} differs from the signed checkpoint {previous[0]}; "
                                    "nothing signed")
    return link


def _latest_checkpoint(store: CheckpointStore, public_key: Ed25519PublicKey) -> tuple[str, Checkpoint] | None:
    names = checkpoint_names(store)
    if not names:
        return None
    latest = names[-1]
    try:
        return latest, checkpoint_decode(store.read(latest), public_key)
    except (OSError, CheckpointInvalid) as exc:
        raise CheckpointRefused(f"checkpoint {latest} {exc}; nothing signed (run audit_verify)") from None


# --- Verifying the log against its checkpoints ----------------------------------------------


@dataclass(frozen=True)
class AuditVerification:
    """What the portal shows: "chain verified through #head_seq, last signed checkpoint at T"."""

    ok: bool
    head_seq: int  # the chain is verified through this sequence number
    events: int  # events stored
    first_bad_seq: int | None
    checkpoints_checked: int
    latest_checkpoint_at: datetime | None  # the newest checkpoint the log matches
    latest_checkpoint_seq: int | None
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    checked_from: int = 0  # events after this sequence number were walked; 0: the whole log
    resumed_at: datetime | None = None  # when the events before `checked_from` were last verified


UNSEALED_AFTER = timedelta(seconds=60)  # an event pending longer than this lost its seal


def audit_log_verify(*, full: bool = True, resume: bool = False) -> AuditVerification:
    """Verify the log against the hash chain and the signed checkpoints.

    `full` walks every event: the chain from genesis and the Merkle root at every
    checkpoint's size, so any edit anywhere is found. Otherwise the walk starts at the
    latest checkpoint the log still matches (see `_verify_from_checkpoint`), and with
    `resume` at the position recorded by the last successful verification when that is
    later. A successful verification records its position. A failed one that did not resume
    (the scheduled one, `audit_verify`) forgets it, so that the audit page's next load starts
    again from the checkpoints and shows what is wrong; the page's own failures keep it, so a
    passing problem (a seal running late) never sends every later load back to the checkpoint."""
    position = None
    if full:
        result = _verify_full()
    else:
        position = audit_verified_position() if resume else None
        result = _verify_from_checkpoint(position=position)
    checkpoint_seq = result.latest_checkpoint_seq or 0
    if not result.ok and not resume:
        AuditVerifiedPosition.objects.filter(pk=1).delete()
    # Nothing new since the recorded position (the audit page, reloaded): nothing to write.
    elif result.ok and not (position is not None and position.seq == result.head_seq
                            and position.checkpoint_seq >= checkpoint_seq):
        _record_verified(result.head_seq, checkpoint_seq=checkpoint_seq)
    return result


def _verify_full() -> AuditVerification:
    """Walk the log once: the hash chain, and the Merkle root at every checkpoint's size."""
    problems: list[str] = []
    warnings: list[str] = []
    checkpoints = _load_checkpoints(problems, warnings)
    wanted = {checkpoint.tree_size for _, checkpoint in checkpoints}
    witness = _Witness(wanted)
    head_seq, head_hash = _chain_head(problems)
    rows = witness.feed(audit_chain_values(through_seq=head_seq))
    report = chain.verify_values(rows, head_seq=head_seq, head_hash=head_hash)
    for _ in rows:  # the chain stops at its first break; the checkpoints need every event
        pass
    if not report.ok:
        problems.insert(0, f"audit chain broken at sequence number {report.first_bad_seq}: {report.problem}")
    _check_unsealed(problems)
    matched: list[tuple[str, Checkpoint]] = []
    for name, checkpoint in checkpoints:
        problem = _checkpoint_problem(name, checkpoint, witness, matched)
        if problem:
            problems.append(problem)
        else:
            matched.append((name, checkpoint))
    return _result(report, problems, warnings, checkpoints, matched, events=witness.count)


def _verify_from_checkpoint(*, position: AuditVerifiedPosition | None) -> AuditVerification:
    """Each checkpoint's signature, and that the event at its size still has the entry hash
    it signed: that hash commits to every event before it, so a history rewritten with its
    chain recomputed, or a cut tail, is found without reading the events. Then that no
    event up to the latest matching checkpoint is missing, and the chain from it to the
    head. An event before that checkpoint edited in place, its stored hashes left as they
    were, is found only by the full walk (`audit_verify --full`)."""
    problems: list[str] = []
    warnings: list[str] = []
    # Resuming (the audit page), checkpoints older than the last verified position were
    # checked when it was reached, and the entry hash at it commits to everything before:
    # only the newest checkpoint at or before it, and those after, are read again.
    checkpoints = _load_checkpoints(problems, warnings, resume_from=position.seq if position else None,
                                    listed_from=position.checkpoint_seq if position else 0)
    head_seq, head_hash = _chain_head(problems)
    stored = audit_entry_hashes_at(checkpoint.tree_size for _, checkpoint in checkpoints)
    matched: list[tuple[str, Checkpoint]] = []
    for name, checkpoint in checkpoints:
        size = checkpoint.tree_size
        if size not in stored:
            problems.append(f"the log ends at #{audit_last_sealed_seq()} but checkpoint {name} covers #{size}: "
                            "events were deleted")
        elif stored[size] != checkpoint.last_entry_hash or checkpoint.last_seq != size:
            problems.append(_differs(name, size, matched))
        else:
            matched.append((name, checkpoint))
    start_seq, start_hash = (matched[-1][1].tree_size, matched[-1][1].last_entry_hash) if matched else (0, GENESIS_HASH)
    # No event up to the checkpoint may be missing. Resuming, those up to the recorded
    # position were all there when it was recorded, so only the ones after it are counted
    # (a count of a million events is 0.1 s on every load); a deletion before the position is
    # found by the scheduled verification (audit.tasks.audit_verify), which counts them all and,
    # failing, makes the page start again from the checkpoints.
    counted_after = min(position.seq, start_seq) if position is not None else 0
    if start_seq > counted_after and (audit_events_sealed_between(after=counted_after, through=start_seq)
                                      != start_seq - counted_after):
        problems.append(f"events up to #{start_seq}, which checkpoint {matched[-1][0]} signed, are missing: "
                        "events were deleted")
    resumed_at = None
    if position is not None and position.seq > start_seq:
        if position.seq > head_seq:
            problems.append(f"the chain head is at #{head_seq} but #{position.seq} was verified "
                            f"{position.verified_at:%Y-%m-%d %H:%M} UTC: events were deleted")
        elif audit_entry_hashes_at([position.seq]).get(position.seq) != position.entry_hash:
            problems.append(f"history up to #{position.seq} differs from what was verified "
                            f"{position.verified_at:%Y-%m-%d %H:%M} UTC")
        else:
            start_seq, start_hash, resumed_at = position.seq, position.entry_hash, position.verified_at
    report = chain.verify_values(audit_chain_values(after_seq=start_seq, through_seq=head_seq), head_seq=head_seq,
                                 head_hash=head_hash, after_seq=start_seq, after_hash=start_hash)
    if not report.ok:
        problems.insert(0, f"audit chain broken at sequence number {report.first_bad_seq}: {report.problem}")
    _check_unsealed(problems)
    return _result(report, problems, warnings, checkpoints, matched,
                   events=report.events if report.ok else audit_last_sealed_seq(),
                   checked_from=start_seq, resumed_at=resumed_at)


def _chain_head(problems: list[str]) -> tuple[int, str]:
    """The head the walk stops at (events sealed meanwhile are the next verification's), and
    a problem when an event is stored after it."""
    head_seq, head_hash, last_stored = audit_chain_head_and_last_stored()
    if last_stored > head_seq:
        problems.append(STORED_AFTER_HEAD.format(last=last_stored, head=head_seq))
    return head_seq, head_hash


def _differs(name: str, size: int, matched: list[tuple[str, Checkpoint]]) -> str:
    earlier = [(c.tree_size, n) for n, c in matched if c.tree_size < size]
    if not earlier:
        return f"history up to #{size} differs from the signed checkpoint {name}"
    good_size, good_name = max(earlier)
    return f"history up to #{size} differs from the signed checkpoint {name} (it still matches {good_name} up to #{good_size})"


def _check_unsealed(problems: list[str]) -> None:
    unsealed = audit_events_pending(occurred_before=timezone.now() - UNSEALED_AFTER).count()
    if unsealed:
        problems.append(f"{unsealed} audit events committed more than {UNSEALED_AFTER.seconds} s ago are not sealed "
                        "into the chain: their seal never ran (`manage.py audit_verify` seals before it verifies)")


def _result(report: chain.ChainReport, problems: list[str], warnings: list[str],
            checkpoints: list[tuple[str, Checkpoint]], matched: list[tuple[str, Checkpoint]], *, events: int,
            checked_from: int = 0, resumed_at: datetime | None = None) -> AuditVerification:
    latest = max(matched, key=lambda item: item[1].tree_size)[1] if matched else None
    return AuditVerification(
        ok=not problems, head_seq=report.events, events=events,
        first_bad_seq=None if report.ok else report.first_bad_seq, checkpoints_checked=len(checkpoints),
        latest_checkpoint_at=latest.created if latest else None,
        latest_checkpoint_seq=latest.tree_size if latest else None,
        problems=tuple(problems), warnings=tuple(warnings), checked_from=checked_from, resumed_at=resumed_at)


def _record_verified(seq: int, *, checkpoint_seq: int) -> None:
    """Move the recorded position forward to `seq` (never back: verifications may overlap)."""
    entry = audit_entry_hashes_at([seq]).get(seq, GENESIS_HASH) if seq else GENESIS_HASH
    position = {"seq": seq, "entry_hash": entry, "verified_at": timezone.now(), "checkpoint_seq": checkpoint_seq}
    # Nothing new since the last verification: no write (every view of the audit page would
    # otherwise update this one row, each waiting for the disk and for the others).
    newer = Q(seq__lt=seq) | Q(seq=seq, checkpoint_seq__lt=checkpoint_seq)
    if not AuditVerifiedPosition.objects.filter(newer, pk=1).update(**position):
        AuditVerifiedPosition.objects.get_or_create(pk=1, defaults=position)


class _Witness:
    """Records the Merkle root and the event at each wanted tree size while rows stream by."""

    def __init__(self, wanted: set[int]) -> None:
        self.wanted = wanted
        self.frontier = MerkleFrontier()
        self.at: dict[int, tuple[str, int, str]] = {}  # size -> (root, seq, entry hash)

    @property
    def count(self) -> int:
        return self.frontier.size

    def feed(self, rows: Iterable[chain.RowValues]) -> Iterator[chain.RowValues]:
        append, wanted, sha256 = self.frontier.append, self.wanted, hashlib.sha256
        for row in rows:
            # From the body, not the stored column, so this check stands without the chain's.
            append(sha256(b"\x00" + row[5].encode("utf-8")).digest())
            if self.frontier.size in wanted:
                self.at[self.frontier.size] = (self.frontier.root().hex(), row[0], row[8])
            yield row


def _checkpoint_problem(name: str, checkpoint: Checkpoint, witness: _Witness,
                        matched: list[tuple[str, Checkpoint]]) -> str:
    size = checkpoint.tree_size
    if size > witness.count:
        return f"the log ends at #{witness.count} but checkpoint {name} covers #{size}: events were deleted"
    if witness.at.get(size) != (checkpoint.root_hash, checkpoint.last_seq, checkpoint.last_entry_hash):
        return _differs(name, size, matched)
    return ""


def _load_checkpoints(problems: list[str], warnings: list[str], resume_from: int | None = None,
                      listed_from: int = 0) -> list[tuple[str, Checkpoint]]:
    """Every checkpoint, decoded and its signature checked; with ``resume_from``, only the
    newest one covering at most that many events and those after it, listed from the one
    of size ``listed_from`` (the newest the last verification matched)."""
    try:
        store = checkpoint_store()
        names = checkpoint_names(store, from_size=listed_from)
    except CheckpointStoreError as exc:
        problems.append(f"the signed checkpoints cannot be read: {exc}")
        return []
    if resume_from is not None:
        sizes = [_name_size(name) for name in names]
        covered = [index for index, size in enumerate(sizes) if size <= resume_from]
        names = names[covered[-1]:] if covered else names
    warnings.extend(store.warnings())
    if not names:
        warnings.append(f"no signed checkpoints in {store.description}: a cut tail or a rewritten history would go "
                        "unnoticed")
        return []
    try:
        public_key = verification_key_load()
    except ImproperlyConfigured as exc:
        problems.append(f"{len(names)} checkpoints cannot be checked: {exc}")
        return []
    checkpoints = []
    for name in names:
        try:
            checkpoints.append((name, checkpoint_decode(store.read(name), public_key)))
        except OSError as exc:
            problems.append(f"checkpoint {name} cannot be read: {exc.strerror or exc}")
        except CheckpointStoreError as exc:
            problems.append(f"checkpoint {name} cannot be read: {exc}")
        except CheckpointInvalid as exc:
            problems.append(f"checkpoint {name} {exc}")
    return sorted(checkpoints, key=lambda item: item[1].tree_size)
