"""The audit log: every edit, deletion, reordering or cut is found; the database refuses changes."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audit.db_guard import audit_maintenance
from audit.models import AuditChainHead, AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_append

pytestmark = pytest.mark.django_db


@pytest.fixture
def five_events() -> list[AuditEvent]:
    return [audit_append(action="test.event", actor="system:test", subject=f"thing:{n}", data={"n": n})
            for n in range(1, 6)]


def _verify_exit() -> tuple[int, str]:
    try:
        call_command("audit_verify")
    except CommandError as error:
        return error.returncode, str(error)
    return 0, ""


def test_an_untouched_chain_verifies(five_events):
    assert audit_chain_verify().ok
    assert audit_chain_verify().events == 5
    assert _verify_exit() == (0, "")


def test_events_chain_from_genesis_with_gap_free_sequence(five_events):
    seqs = list(AuditEvent.objects.values_list("seq", flat=True))
    assert seqs == [1, 2, 3, 4, 5]
    events = list(AuditEvent.objects.order_by("seq"))
    assert events[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.entry_hash for earlier, later in zip(events, events[1:]))


def test_an_event_body_holds_no_more_than_pseudonymous_references(five_events):
    assert five_events[0].body == (
        '{"action":"test.event","actor":"system:test","at":"%s","data":{"n":1},"seq":1,"subject":"thing:1","v":1}'
        % five_events[0].occurred_at.isoformat(timespec="microseconds"))


def _tamper(sql: str, *params: object) -> None:
    with audit_maintenance(connection), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_an_edited_body_is_found_by_sequence_number(five_events):
    body = five_events[2].body.replace('"n":3', '"n":33')
    _tamper("UPDATE audit_auditevent SET body = %s WHERE seq = 3", body)
    report = audit_chain_verify()
    assert (report.ok, report.first_bad_seq) == (False, 3)
    code, message = _verify_exit()
    assert code == 1 and "sequence number 3" in message


def test_an_edited_column_is_found(five_events):
    _tamper("UPDATE audit_auditevent SET subject = 'thing:forged' WHERE seq = 4")
    assert audit_chain_verify().first_bad_seq == 4


def test_a_deleted_event_in_the_middle_is_found(five_events):
    _tamper("DELETE FROM audit_auditevent WHERE seq = 2")
    report = audit_chain_verify()
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "missing" in report.problem


def test_cutting_a_run_of_events_out_of_the_middle_is_found(five_events):
    _tamper("DELETE FROM audit_auditevent WHERE seq IN (2, 3, 4)")
    assert audit_chain_verify().first_bad_seq == 2


def test_reordered_events_are_found(five_events):
    second, fourth = five_events[1], five_events[3]
    for target, source in ((2, fourth), (4, second)):
        _tamper("UPDATE audit_auditevent SET body = %s, leaf_hash = %s, prev_hash = %s, entry_hash = %s, "
                "occurred_at = %s, subject = %s WHERE seq = %s",
                source.body, source.leaf_hash, source.prev_hash, source.entry_hash, source.occurred_at,
                source.subject, target)
    assert audit_chain_verify().first_bad_seq == 2


def test_a_cut_tail_is_found_against_the_chain_head(five_events):
    _tamper("DELETE FROM audit_auditevent WHERE seq >= 4")
    report = audit_chain_verify()
    assert (report.ok, report.first_bad_seq) == (False, 4)


def test_the_database_refuses_update_and_delete_of_audit_events(five_events):
    for statement in ("UPDATE audit_auditevent SET action = 'x' WHERE seq = 1", "DELETE FROM audit_auditevent WHERE seq = 5",
                      "DELETE FROM audit_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(action="forged")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditChainHead.objects.filter(pk=1).update(seq=2)
    assert AuditEvent.objects.count() == 5 and audit_chain_verify().ok


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE exists on PostgreSQL only")
def test_postgresql_refuses_truncate(five_events):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")


def test_an_event_written_in_a_rolled_back_transaction_leaves_no_trace(five_events):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_append(action="test.event", actor="system:test", subject="thing:6")
        raise RuntimeError("the change failed")
    assert AuditEvent.objects.count() == 5 and audit_chain_verify().ok


def test_export_writes_every_event_with_its_hashes(five_events, tmp_path):
    import json

    out = tmp_path / "audit.jsonl"
    call_command("audit_export", out=out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert lines[4]["entry_hash"] == five_events[4].entry_hash
