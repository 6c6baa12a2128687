"""Events are recorded in the writer's transaction and sealed into the chain after it
commits, by a short transaction that alone locks the chain head (DESIGN invariants 2, 8)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import chain, services
from audit.checkpoints import audit_log_verify
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_append, audit_seal

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql",
                                     reason="SQLite has one writer at a time: nothing runs alongside")


@pytest.fixture
def after_commit(settings):  # type: ignore[no-untyped-def]
    """Seal after commit, as production does, inside a test's transaction (nothing commits: seal by hand)."""
    settings.BESPOKE_AUDIT_SEAL_AT_APPEND = False


def _append(n: int = 1) -> AuditEvent:
    return audit_append(action="test.event", actor="system:test", subject=f"thing:{n}", data={"n": n})


def _stored(event: AuditEvent) -> AuditEvent:
    return AuditEvent.objects.get(pk=event.pk)


@pytest.mark.django_db(transaction=True)
def test_an_event_takes_its_place_in_the_chain_when_its_transaction_commits():
    with transaction.atomic():
        event = _append()
        assert _stored(event).seq is None and _stored(event).entry_hash == ""
    sealed = _stored(event)
    assert (sealed.seq, sealed.prev_hash) == (1, GENESIS_HASH)
    assert sealed.entry_hash == chain.entry_hash(GENESIS_HASH, sealed.leaf_hash)
    assert AuditChainHead.objects.get(pk=1).seq == 1 and audit_chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_an_event_of_a_rolled_back_transaction_is_never_recorded():
    with pytest.raises(RuntimeError), transaction.atomic():
        _append()
        raise RuntimeError("the change failed")
    _append(2)
    assert list(AuditEvent.objects.values_list("seq", "subject")) == [(1, "thing:2")]


@pytest.mark.django_db
def test_a_transaction_asks_for_one_seal_however_many_events_it_appends(after_commit,
                                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            for n in range(3):
                _append(n)
    assert len(callbacks) == 1
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 3
    callbacks[0]()
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [1, 2, 3]
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_one_seal_chains_many_events_in_batches_in_the_order_they_were_written(after_commit, monkeypatch):
    monkeypatch.setattr(services, "SEAL_BATCH", 2)
    events = [_append(n) for n in range(5)]
    assert audit_seal() == 5
    assert [_stored(event).seq for event in events] == [1, 2, 3, 4, 5]
    assert audit_chain_verify().ok and audit_seal() == 0


@pytest.mark.django_db
def test_the_seal_never_runs_inside_another_transaction(after_commit):
    _append()
    with pytest.raises(RuntimeError, match="never inside another"), transaction.atomic():
        audit_seal()
    assert audit_seal() == 1


def _refused(sql: str, *params: object) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.django_db
def test_the_database_allows_only_the_seal_and_only_once(after_commit):
    pending = _append()
    _refused("UPDATE audit_auditevent SET body = '{}' WHERE id = %s", pending.pk)
    _refused("UPDATE audit_auditevent SET seq = 1, prev_hash = %s, entry_hash = %s, subject = 'thing:forged' "
             "WHERE id = %s", GENESIS_HASH, "a" * 64, pending.pk)
    _refused("DELETE FROM audit_auditevent WHERE id = %s", pending.pk)
    assert audit_seal() == 1
    _refused("UPDATE audit_auditevent SET seq = 7 WHERE id = %s", pending.pk)
    _refused("UPDATE audit_auditevent SET seq = NULL, prev_hash = '', entry_hash = '' WHERE id = %s", pending.pk)
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_the_chain_head_moves_only_forward_and_only_onto_a_stored_event():
    for n in range(3):
        _append(n)
    head = AuditChainHead.objects.get(pk=1)
    _refused("UPDATE audit_auditchainhead SET seq = %s, entry_hash = %s WHERE id = 1", head.seq + 1, "b" * 64)
    second = AuditEvent.objects.get(seq=2)
    _refused("UPDATE audit_auditchainhead SET seq = 2, entry_hash = %s WHERE id = 1", second.entry_hash)
    _refused("DELETE FROM audit_auditchainhead")


@pytest.mark.django_db
def test_verification_reports_events_whose_seal_never_ran_and_audit_verify_seals_them(after_commit):
    with mock.patch.object(services.timezone, "now", return_value=timezone.now() - timedelta(minutes=5)):
        event = _append()
    result = audit_log_verify()
    assert not result.ok and any("not sealed into the chain" in problem for problem in result.problems)
    call_command("audit_verify")  # seals first, then finds the chain intact
    assert _stored(event).seq == 1 and audit_log_verify().ok


def _insert_sealed(body: str, *, seq: int, prev: str, occurred_at: object) -> str:
    leaf = chain.leaf_hash(body)
    entry = chain.entry_hash(prev, leaf)
    document = json.loads(body)
    AuditEvent.objects.create(seq=seq, occurred_at=occurred_at, action=document["action"], actor=document["actor"],
                              subject=document["subject"], body=body, leaf_hash=leaf, prev_hash=prev, entry_hash=entry)
    AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": seq, "entry_hash": entry})
    return entry


@pytest.mark.django_db
def test_events_written_before_the_seal_existed_still_verify():
    """Version 1 bodies held their sequence number; the chain carries on after them."""
    at = timezone.now()
    body = json.dumps({"action": "test.old", "actor": "system:test", "at": at.isoformat(timespec="microseconds"),
                       "data": {}, "seq": 1, "subject": "thing:old", "v": 1}, separators=(",", ":"), sort_keys=True)
    _insert_sealed(body, seq=1, prev=GENESIS_HASH, occurred_at=at)
    _append(2)
    assert audit_chain_verify().ok and audit_chain_verify().events == 2


@pytest.mark.django_db
def test_a_version_2_body_with_a_sequence_number_is_refused():
    at = timezone.now()
    body = json.dumps({"action": "test.odd", "actor": "system:test", "at": at.isoformat(timespec="microseconds"),
                       "data": {}, "seq": 1, "subject": "thing:odd", "v": 2}, separators=(",", ":"), sort_keys=True)
    _insert_sealed(body, seq=1, prev=GENESIS_HASH, occurred_at=at)
    report = audit_chain_verify()
    assert (report.ok, report.first_bad_seq) == (False, 1) and "sequence number" in report.problem


def test_the_beat_schedule_seals_what_a_stopped_writer_left():
    from bespoke.celery import app

    assert app.conf.beat_schedule["audit-seal"]["task"] == "audit.tasks.audit_seal"


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_an_open_transaction_holds_up_no_other_audited_write():
    appended, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                _append(1)
                appended.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    slow = threading.Thread(target=slow_writer)
    slow.start()
    try:
        assert appended.wait(timeout=30)
        with transaction.atomic():
            quick = _append(2)
        assert _stored(quick).seq == 1, "sealed while the slow transaction is still open"
    finally:
        release.set()
        slow.join(timeout=30)
    assert audit_seal() == 0
    assert list(AuditEvent.objects.order_by("seq").values_list("subject", flat=True)) == ["thing:2", "thing:1"]
    assert audit_chain_verify().ok
