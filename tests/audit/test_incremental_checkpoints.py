"""A checkpoint reads only the events after the previous one, resuming from the Merkle
frontier stored beside it, and signs the same root as a walk from the first event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection

from audit.checkpoints import (
    audit_checkpoint_write,
    audit_log_verify,
    frontier_file_name,
    merkle_root,
)
from audit.db_guard import audit_maintenance
from audit.models import AuditEvent
from audit.services import audit_append


def _append(count: int) -> None:
    for n in range(count):
        audit_append(action="test.event", actor="system:test", subject=f"thing:{n}", data={"n": n})


def _root_from_scratch() -> str:
    leaves = AuditEvent.objects.order_by("seq").values_list("leaf_hash", flat=True)
    return merkle_root(bytes.fromhex(leaf) for leaf in leaves).hex()


def _frontier_path(settings, size: int) -> Path:  # type: ignore[no-untyped-def]
    return Path(settings.BESPOKE_AUDIT_CHECKPOINT_DIR) / frontier_file_name(size)


@pytest.mark.django_db
def test_each_checkpoint_reads_only_the_new_events_and_signs_the_root_a_full_walk_computes(settings, tmp_path):
    size = 0
    for added in (1, 2, 5, 8, 13, 1, 31, 64, 3):  # sizes across several powers of two
        _append(added)
        size += added
        written = audit_checkpoint_write()
        assert written is not None and written.checkpoint.tree_size == size
        assert written.events_read == added
        assert written.checkpoint.root_hash == _root_from_scratch()

    settings.BESPOKE_AUDIT_CHECKPOINT_DIR = tmp_path / "from-scratch"  # no previous checkpoint: every event is read
    scratch = audit_checkpoint_write()
    assert scratch.events_read == size and scratch.checkpoint.root_hash == written.checkpoint.root_hash


@pytest.mark.django_db
def test_full_verification_recomputes_every_incremental_root(settings):
    _append(6)
    audit_checkpoint_write()
    _append(5)
    audit_checkpoint_write()
    result = audit_log_verify(full=True)
    assert (result.ok, result.checkpoints_checked, result.latest_checkpoint_seq) == (True, 2, 11)

    # An event before the latest checkpoint edited in place, its stored hashes left alone:
    # the incremental signer does not read it, the full walk finds it.
    with audit_maintenance(connection), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET body = replace(body, '\"n\":2', '\"n\":7') WHERE seq = 3")
    assert audit_log_verify(full=False).ok
    result = audit_log_verify(full=True)
    assert not result.ok and result.first_bad_seq == 3


@pytest.mark.django_db
def test_an_edited_frontier_is_not_trusted_and_every_event_is_read(settings):
    _append(6)
    first = audit_checkpoint_write()
    path = _frontier_path(settings, 6)
    document = json.loads(path.read_text())
    document["nodes"][0] = "ab" * 32
    path.write_text(json.dumps(document))
    _append(3)
    written = audit_checkpoint_write()
    assert written.events_read == 9 and written.checkpoint.root_hash == _root_from_scratch()
    assert first.checkpoint.root_hash != written.checkpoint.root_hash


@pytest.mark.django_db
def test_a_frontier_folded_into_its_root_is_refused_though_it_folds_to_the_signed_root(settings):
    """One node equal to the root folds to the signed root too, but extending it would sign a
    wrong tree: a frontier needs one node for each 1 bit of its size."""
    _append(6)
    first = audit_checkpoint_write()
    path = _frontier_path(settings, 6)
    path.write_text(json.dumps({"tree_size": 6, "nodes": [first.checkpoint.root_hash]}))
    _append(1)
    written = audit_checkpoint_write()
    assert written.events_read == 7 and written.checkpoint.root_hash == _root_from_scratch()


@pytest.mark.django_db
def test_a_checkpoint_without_a_frontier_is_extended_by_reading_every_event(settings):
    _append(4)
    audit_checkpoint_write()
    _frontier_path(settings, 4).unlink()
    _append(2)
    written = audit_checkpoint_write()
    assert written.events_read == 6 and written.checkpoint.root_hash == _root_from_scratch()
    assert _frontier_path(settings, 6).exists()


@pytest.mark.django_db
def test_an_event_deleted_before_the_last_checkpoint_cannot_change_the_next_root_and_verification_finds_it():
    _append(5)
    audit_checkpoint_write()
    _append(2)
    expected_root = _root_from_scratch()
    with audit_maintenance(connection), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 2")
    written = audit_checkpoint_write()
    assert written.events_read == 2 and written.checkpoint.root_hash == expected_root  # the tree as signed before
    assert audit_log_verify(full=False).problems == (
        "events up to #7, which checkpoint checkpoint-000000000007.json signed, are missing: events were deleted",)
    assert audit_log_verify(full=True).first_bad_seq == 2
