"""Signed Merkle checkpoints: a cut tail or a rewritten history is found even when the
chain itself has been recomputed to look intact."""

from __future__ import annotations

import hashlib
import json
import stat
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit import chain
from audit.checkpoints import (
    EMPTY_ROOT,
    Checkpoint,
    CheckpointRefused,
    MerkleFrontier,
    audit_checkpoint_write,
    audit_log_verify,
    checkpoint_encode,
    checkpoint_file_name,
    key_id,
    merkle_root,
)
from audit.db_guard import audit_maintenance
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_append

# --- Merkle Tree Hash -----------------------------------------------------------------------

# google/certificate-transparency-go, merkletree/merkle_verifier_test.go: getInputs() and
# getRoots() (the roots of the trees of the first 1..8 inputs) and sha256EmptyTreeHash.
CT_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_EMPTY_TREE_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _mth(leaf_hashes: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written out as the recursion it states."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaf_hashes[:k]) + _mth(leaf_hashes[k:])).digest()


def test_the_empty_tree_hash_is_sha256_of_nothing():
    assert EMPTY_ROOT.hex() == CT_EMPTY_TREE_HASH == merkle_root([]).hex()


def test_roots_match_the_certificate_transparency_vectors():
    leaves = [_leaf(bytes.fromhex(data)) for data in CT_INPUTS]
    for size in range(1, 9):
        assert merkle_root(leaves[:size]).hex() == CT_ROOTS[size - 1], size


def test_roots_match_the_recursive_definition_at_every_size():
    leaves = [_leaf(f"event {n}".encode()) for n in range(70)]
    frontier = MerkleFrontier()
    assert frontier.root() == _mth([])
    for size, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        assert frontier.root() == _mth(leaves[:size]), size
    assert merkle_root(leaves[:8]) != merkle_root(leaves[1:9])  # order and content both count


# --- Checkpoints of the database log ---------------------------------------------------------


@pytest.fixture
def five_events(db) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    return [audit_append(action="test.event", actor="system:test", subject=f"thing:{n}", data={"n": n})
            for n in range(1, 6)]


def _verify() -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, str(error), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _tamper(sql: str, *params: object) -> None:
    with audit_maintenance(connection), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _checkpoints(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    return sorted(Path(settings.BESPOKE_AUDIT_CHECKPOINT_DIR).glob("checkpoint-*.json"))


@pytest.mark.django_db
def test_a_checkpoint_signs_the_root_of_the_log_with_a_key_kept_outside_the_database(five_events, settings):
    written = audit_checkpoint_write()
    assert written is not None and written.path.name == "checkpoint-000000000005.json"
    leaves = [bytes.fromhex(event.leaf_hash) for event in five_events]
    assert written.checkpoint.root_hash == _mth(leaves).hex()
    assert (written.checkpoint.tree_size, written.checkpoint.last_seq) == (5, 5)
    assert written.checkpoint.last_entry_hash == five_events[-1].entry_hash
    key_path = Path(settings.BESPOKE_AUDIT_CHECKPOINT_KEY)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    public = serialization.load_pem_public_key((key_path.parent / "audit-checkpoint.pub").read_bytes())
    document = json.loads(written.path.read_text())
    assert document["checkpoint"]["key_id"] == key_id(public)
    assert set(document["checkpoint"]) == {"version", "tree_size", "root_hash", "last_seq", "last_entry_hash",
                                           "created_at", "key_id"}

    result = audit_log_verify()
    assert (result.ok, result.head_seq, result.checkpoints_checked, result.latest_checkpoint_seq) == (True, 5, 1, 5)
    assert result.latest_checkpoint_at == written.checkpoint.created
    code, out, _ = _verify()
    assert code == 0 and "audit chain intact: 5 events" in out and "covers #5" in out


@pytest.mark.django_db
def test_nothing_is_written_when_no_event_was_added(five_events, settings):
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    assert "checkpoint-000000000005.json" in out.getvalue()
    first = _checkpoints(settings)[0].read_bytes()
    again = StringIO()
    call_command("audit_checkpoint", stdout=again)
    assert "nothing written" in again.getvalue()
    assert [path.name for path in _checkpoints(settings)] == ["checkpoint-000000000005.json"]
    assert _checkpoints(settings)[0].read_bytes() == first
    audit_append(action="test.event", actor="system:test", subject="thing:6")
    call_command("audit_checkpoint", stdout=StringIO())
    assert [path.name for path in _checkpoints(settings)] == ["checkpoint-000000000005.json",
                                                              "checkpoint-000000000006.json"]


@pytest.mark.django_db
def test_an_empty_log_gets_no_checkpoint_and_no_checkpoints_is_a_warning_only(settings):
    assert audit_checkpoint_write() is None
    assert _checkpoints(settings) == []
    code, out, err = _verify()
    assert code == 0 and "audit chain intact: 0 events" in out
    assert "warning: no signed checkpoints" in err


@pytest.mark.django_db
def test_a_deleted_tail_is_found_even_when_the_chain_head_is_rewound(five_events):
    audit_checkpoint_write()
    _tamper("DELETE FROM audit_auditevent WHERE seq > 3")
    with pytest.raises(CheckpointRefused, match="the chain head records #5"):
        audit_checkpoint_write()  # nothing is signed over a cut log
    _tamper("UPDATE audit_auditchainhead SET seq = 3, entry_hash = %s WHERE id = 1", five_events[2].entry_hash)
    assert audit_chain_verify().ok  # the chain alone cannot tell

    code, message, _ = _verify()
    assert code == 1
    assert message == "the log ends at #3 but checkpoint checkpoint-000000000005.json covers #5: events were deleted"
    result = audit_log_verify()
    assert (result.ok, result.head_seq, result.latest_checkpoint_seq) == (False, 3, None)
    with pytest.raises(CheckpointRefused, match="events were deleted"):
        audit_checkpoint_write()


def _rewrite_from(seq: int, events: list[AuditEvent]) -> None:
    """Edit event `seq` and recompute the chain after it, as someone with database access could."""
    prev = events[seq - 2].entry_hash if seq > 1 else "0" * 64
    for event in events[seq - 1:]:
        body = json.loads(event.body)
        if event.seq == seq:
            body["data"] = {"n": 999}
        text = chain.canonical_body(occurred_at=event.occurred_at, action=event.action,
                                    actor=event.actor, subject=event.subject, data=body["data"])
        leaf = chain.leaf_hash(text)
        entry = chain.entry_hash(prev, leaf)
        _tamper("UPDATE audit_auditevent SET body = %s, leaf_hash = %s, prev_hash = %s, entry_hash = %s "
                "WHERE seq = %s", text, leaf, prev, entry, event.seq)
        prev = entry
    _tamper("UPDATE audit_auditchainhead SET entry_hash = %s WHERE id = 1", prev)


@pytest.mark.django_db
def test_a_rewritten_history_with_a_recomputed_chain_is_found(five_events):
    audit_checkpoint_write()  # covers #1-#5
    more = [audit_append(action="test.event", actor="system:test", subject=f"thing:{n}") for n in (6, 7)]
    audit_checkpoint_write()  # covers #1-#7
    _rewrite_from(6, five_events + more)
    assert audit_chain_verify().ok  # the chain was recomputed: it looks intact

    code, message, _ = _verify()
    assert code == 1
    assert message == ("history up to #7 differs from the signed checkpoint checkpoint-000000000007.json "
                       "(it still matches checkpoint-000000000005.json up to #5)")
    audit_append(action="test.event", actor="system:test", subject="thing:8")
    with pytest.raises(CommandError, match="history up to #7 differs"):
        call_command("audit_checkpoint", stdout=StringIO())


@pytest.mark.django_db
def test_rewriting_from_the_first_event_fails_every_checkpoint(five_events):
    audit_checkpoint_write()
    _rewrite_from(1, five_events)
    assert audit_chain_verify().ok
    result = audit_log_verify()
    assert result.problems == ("history up to #5 differs from the signed checkpoint checkpoint-000000000005.json",)


@pytest.mark.django_db
def test_an_edited_checkpoint_file_fails_its_signature(five_events):
    written = audit_checkpoint_write()
    document = json.loads(written.path.read_text())
    document["checkpoint"]["tree_size"] = 4  # claim less, to hide a later deletion
    document["checkpoint"]["last_seq"] = 4
    written.path.write_text(json.dumps(document))
    code, message, _ = _verify()
    assert code == 1
    assert message == "checkpoint checkpoint-000000000005.json has an invalid signature: it was edited or forged"
    audit_append(action="test.event", actor="system:test", subject="thing:6")
    with pytest.raises(CheckpointRefused, match="invalid signature"):
        audit_checkpoint_write()


@pytest.mark.django_db
def test_a_checkpoint_signed_by_another_key_is_rejected(five_events, settings, tmp_path):
    audit_checkpoint_write()
    impostor = Ed25519PrivateKey.generate()
    genuine = json.loads(_checkpoints(settings)[0].read_text())["checkpoint"]
    forged = Checkpoint(**{**genuine, "key_id": key_id(impostor.public_key())})  # a true root, the wrong signer
    (Path(settings.BESPOKE_AUDIT_CHECKPOINT_DIR) / checkpoint_file_name(3)).write_bytes(
        checkpoint_encode(forged, impostor))
    code, message, _ = _verify()
    assert code == 1 and message.startswith("checkpoint checkpoint-000000000003.json is signed by another key")

    # An explicitly configured public key is the one that counts.
    public_path = tmp_path / "impostor.pub"
    public_path.write_bytes(impostor.public_key().public_bytes(serialization.Encoding.PEM,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo))
    settings.BESPOKE_AUDIT_CHECKPOINT_PUBLIC_KEY = public_path
    result = audit_log_verify()
    assert result.problems == ("checkpoint checkpoint-000000000005.json is signed by another key "
                               f"(key id {genuine['key_id'][:16]}), not the audit checkpoint public key",)


@pytest.mark.django_db
def test_production_without_a_key_is_a_clear_error_and_creates_nothing(five_events, settings):
    settings.PRODUCTION = True
    key_path = Path(settings.BESPOKE_AUDIT_CHECKPOINT_KEY)
    with pytest.raises(ImproperlyConfigured, match="audit checkpoint signing key .* does not exist"):
        audit_checkpoint_write()
    with pytest.raises(CommandError, match="BESPOKE_AUDIT_CHECKPOINT_KEY"):
        call_command("audit_checkpoint", stdout=StringIO())
    assert not key_path.exists() and _checkpoints(settings) == []

    key_path.parent.mkdir(parents=True)
    key_path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    assert audit_checkpoint_write() is not None  # a provisioned key is used as it is


def test_the_beat_schedule_runs_the_checkpoint_task(settings):
    from bespoke.celery import app

    entries = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == "audit.tasks.audit_checkpoint"]
    assert len(entries) == 1
    assert entries[0]["schedule"] == float(settings.BESPOKE_AUDIT_CHECKPOINT_INTERVAL_SECONDS) == 300.0
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    assert "audit.tasks.audit_checkpoint" in app.tasks


@pytest.mark.django_db
def test_the_task_writes_a_checkpoint(five_events, settings):
    from audit.tasks import audit_checkpoint

    audit_checkpoint.apply()
    assert [path.name for path in _checkpoints(settings)] == ["checkpoint-000000000005.json"]
