"""`audit_verify` walks from the latest signed checkpoint by default and every event with
`--full`; the portal's audit page walks only what no earlier verification covered. The
canonical-form check takes a fast path that must agree with RFC 8785."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
import rfc8785
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from accounts.services import totp_enrol
from audit import chain
from audit.checkpoints import audit_checkpoint_write, audit_log_verify
from audit.db_guard import audit_maintenance
from audit.models import AuditEvent, AuditVerifiedPosition
from audit.services import audit_append

pytestmark = pytest.mark.django_db


def _append(n: int) -> AuditEvent:
    return audit_append(action="test.event", actor="system:test", subject=f"thing:{n}", data={"n": n})


@pytest.fixture
def checkpointed() -> list[AuditEvent]:
    """Seven events: #1-#5 under a signed checkpoint, #6 and #7 after it."""
    events = [_append(n) for n in range(1, 6)]
    audit_checkpoint_write()
    return events + [_append(n) for n in (6, 7)]


def _verify(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("audit_verify", *args, stdout=out, stderr=StringIO())
    except CommandError as error:
        return error.returncode, str(error)
    return 0, out.getvalue()


def _tamper(sql: str, *params: object) -> None:
    with audit_maintenance(connection), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _edit_body_in_place(event: AuditEvent) -> None:
    """Change what an event says and leave every stored hash as it was."""
    _tamper("UPDATE audit_auditevent SET body = %s WHERE seq = %s",
            event.body.replace('"n":', '"n":99'), event.seq)


def test_the_default_run_walks_only_the_events_after_the_latest_checkpoint(checkpointed):
    code, out = _verify()
    assert code == 0
    assert "audit chain intact: 7 events" in out
    assert "events #6-#7 walked from the signed checkpoint at #5" in out
    code, out = _verify("--full")
    assert code == 0 and "audit chain intact: 7 events" in out and "walked from" not in out
    audit_checkpoint_write()
    code, out = _verify()
    assert code == 0 and "no events walked from the signed checkpoint at #7" in out


def test_tampering_after_the_checkpoint_is_found_by_the_default_run(checkpointed):
    _edit_body_in_place(checkpointed[6])
    assert _verify() == (1, "audit chain broken at sequence number 7: body does not match its leaf hash")


def test_an_event_edited_in_place_before_the_checkpoint_is_left_to_the_full_run(checkpointed):
    _edit_body_in_place(checkpointed[1])
    assert _verify()[0] == 0  # its stored hashes still chain to the signed head: by design not re-read
    code, message = _verify("--full")
    assert code == 1
    assert message.startswith("audit chain broken at sequence number 2: body does not match its leaf hash")
    assert "history up to #5 differs from the signed checkpoint checkpoint-000000000005.json" in message


def test_a_history_rewritten_before_the_checkpoint_with_its_chain_recomputed_is_found_by_default(checkpointed):
    prev = checkpointed[0].entry_hash
    for event in checkpointed[1:]:  # rewrite #2 and recompute every hash after it, head included
        body = event.body.replace('"n":2}', '"n":222}') if event.seq == 2 else event.body
        leaf = chain.leaf_hash(body)
        entry = chain.entry_hash(prev, leaf)
        _tamper("UPDATE audit_auditevent SET body = %s, leaf_hash = %s, prev_hash = %s, entry_hash = %s "
                "WHERE seq = %s", body, leaf, prev, entry, event.seq)
        prev = entry
    _tamper("UPDATE audit_auditchainhead SET entry_hash = %s WHERE id = 1", prev)
    assert _verify() == (1, "history up to #5 differs from the signed checkpoint checkpoint-000000000005.json")
    assert _verify("--full")[0] == 1


def test_an_event_deleted_before_the_checkpoint_is_found_by_default(checkpointed):
    _tamper("DELETE FROM audit_auditevent WHERE seq = 3")
    code, message = _verify()
    assert code == 1
    assert message == ("events up to #5, which checkpoint checkpoint-000000000005.json signed, are missing: "
                       "events were deleted")
    assert _verify("--full")[0] == 1


def test_without_a_checkpoint_the_default_run_walks_from_the_first_event():
    events = [_append(n) for n in range(1, 4)]
    _edit_body_in_place(events[0])
    assert _verify() == (1, "audit chain broken at sequence number 1: body does not match its leaf hash")


def test_events_sealed_while_a_verification_walks_are_left_to_the_next_one(checkpointed, monkeypatch):
    """Under load a seal commits between the verification's read of the head and its walk:
    the walk stops at the head it read, and the log is not reported broken."""
    from audit import checkpoints

    real = checkpoints.audit_chain_head_and_last_stored

    def head_then_a_seal() -> tuple[int, str, int]:
        head = real()
        _append(8)  # sealed at once (autocommit): after the head was read
        return head

    monkeypatch.setattr(checkpoints, "audit_chain_head_and_last_stored", head_then_a_seal)
    for full in (False, True):
        result = audit_log_verify(full=full)
        assert result.ok, result.problems
        assert result.head_seq == AuditEvent.objects.filter(seq__isnull=False).count() - 1


def test_an_event_stored_after_the_chain_head_is_found(checkpointed):
    _tamper("UPDATE audit_auditchainhead SET seq = %s, entry_hash = %s WHERE id = 1",
            checkpointed[-2].seq, checkpointed[-2].entry_hash)
    for args in ((), ("--full",)):
        code, message = _verify(*args)
        assert code == 1
        assert f"event #{checkpointed[-1].seq} is stored after the chain head #{checkpointed[-2].seq}" in message


# --- The portal's audit page ------------------------------------------------------------------


@pytest.fixture
def legal_client(client, personas, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.BESPOKE_AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
    settings.BESPOKE_AUDIT_CHECKPOINT_KEY = tmp_path / "keys" / "audit-checkpoint.key"
    settings.BESPOKE_AUDIT_CHECKPOINT_PUBLIC_KEY = None
    totp_enrol(user=personas.dana)  # legal staff sign in with a second factor
    client.force_login(personas.dana)
    return client


def _status(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get(reverse("portal-audit-log")).content.decode()
    start = page.index('role="status"')
    return page[start:page.index("</div>", start)]


def test_the_audit_page_checks_only_the_events_after_its_last_verification(legal_client):
    first = _status(legal_client)
    head = AuditEvent.objects.filter(seq__isnull=False).count()
    assert f"Chain verified: {head} events" in first and "were verified" not in first
    assert AuditVerifiedPosition.objects.get().seq == head

    _append(1)
    again = _status(legal_client)
    assert f"Chain verified: {head + 1} events" in again
    assert f"Events up to #{head} were verified" in again
    assert AuditVerifiedPosition.objects.get().seq == head + 1


def test_the_audit_page_reports_a_break_after_its_last_verification(legal_client):
    _status(legal_client)
    event = _append(1)
    _edit_body_in_place(event)
    status = _status(legal_client)
    assert f"Chain broken at #{event.seq}" in status and "body does not match its leaf hash" in status


def test_the_audit_page_reports_a_rewrite_of_what_it_verified_before(legal_client):
    _status(legal_client)
    events = [_append(n) for n in (1, 2)]
    _status(legal_client)
    last = events[-1]
    body = last.body.replace('"n":2}', '"n":3}')
    leaf = chain.leaf_hash(body)
    entry = chain.entry_hash(last.prev_hash, leaf)
    _tamper("UPDATE audit_auditevent SET body = %s, leaf_hash = %s, entry_hash = %s WHERE seq = %s",
            body, leaf, entry, last.seq)
    _tamper("UPDATE audit_auditchainhead SET entry_hash = %s WHERE id = 1", entry)
    status = _status(legal_client)
    assert f"history up to #{last.seq} differs from what was verified" in status
    assert "Chain verified" not in status


def test_an_old_event_deleted_after_the_page_verified_it_is_shown_once_the_scheduled_verification_runs(
        legal_client):
    """The page resumes from its last verification and counts only the events after it; the
    scheduled verification counts every event up to the checkpoint, and its failure makes the
    page start again from the checkpoints."""
    from audit.tasks import audit_verify

    for n in range(1, 6):
        _append(n)
    audit_checkpoint_write()
    _append(6)
    assert "Chain verified" in _status(legal_client)
    _tamper("DELETE FROM audit_auditevent WHERE seq = 3")
    _append(7)
    assert "Chain verified" in _status(legal_client)  # resumed: #3 was there when the page last verified
    assert AuditVerifiedPosition.objects.exists()

    audit_verify.apply()
    assert not AuditVerifiedPosition.objects.exists()
    status = _status(legal_client)
    assert "Chain verified" not in status
    assert "which checkpoint checkpoint-" in status and "are missing: events were deleted" in status


def test_the_scheduled_verification_forgets_the_position_when_it_fails_and_the_page_keeps_it(checkpointed):
    assert audit_log_verify(full=False).ok
    verified = checkpointed[-1].seq
    assert AuditVerifiedPosition.objects.get().seq == verified
    _edit_body_in_place(_append(8))
    assert not audit_log_verify(full=False, resume=True).ok  # the page's load: kept
    assert AuditVerifiedPosition.objects.get().seq == verified
    assert not audit_log_verify(full=False).ok  # the scheduled one: forgotten
    assert not AuditVerifiedPosition.objects.exists()


def test_the_beat_schedule_runs_the_verification_hourly(settings):
    from bespoke.celery import app

    entries = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == "audit.tasks.audit_verify"]
    assert len(entries) == 1 and entries[0]["schedule"] == 3600.0
    app.loader.import_default_modules()
    assert "audit.tasks.audit_verify" in app.tasks


def test_the_audit_page_shows_the_latest_signed_checkpoint_it_walked_from(legal_client):
    written = audit_checkpoint_write()
    _append(1)
    status = _status(legal_client)
    assert f"Latest signed checkpoint matched: #{written.checkpoint.tree_size}" in status
    assert audit_log_verify(full=False).checked_from == written.checkpoint.tree_size


def test_the_audit_page_reads_only_the_checkpoints_since_its_last_verification(legal_client):
    """A year of checkpoints every five minutes is 100,000 objects: the page must not read them all."""
    for n in range(3):
        _append(n)
        audit_checkpoint_write()
    _status(legal_client)
    _append(9)
    latest = audit_checkpoint_write()
    status = _status(legal_client)
    assert f"Latest signed checkpoint matched: #{latest.checkpoint.tree_size}" in status
    assert "(2 checked)" in status  # the one at the verified position and the new one
    assert audit_log_verify(full=False).checkpoints_checked == 4  # audit_verify still reads every one


def test_the_audit_page_lists_the_checkpoint_store_from_the_checkpoint_it_last_matched(legal_client, monkeypatch):
    """Reading only the newest checkpoints is not enough when listing them walks the whole store."""
    from audit import checkpoints

    real_store = checkpoints.checkpoint_store
    listed: list[str] = []

    class RecordingStore:
        def __init__(self) -> None:
            self.store = real_store()

        def names(self, **kwargs: str) -> list[str]:
            names = self.store.names(**kwargs)
            listed.extend(names)
            return names

        def __getattr__(self, attribute: str) -> object:
            return getattr(self.store, attribute)

    written = []
    for n in range(3):
        _append(n)
        written.append(audit_checkpoint_write().checkpoint.tree_size)
    _status(legal_client)
    _append(9)
    written.append(audit_checkpoint_write().checkpoint.tree_size)
    monkeypatch.setattr(checkpoints, "checkpoint_store", RecordingStore)
    status = _status(legal_client)
    assert "Chain verified" in status
    assert listed == [checkpoints.checkpoint_file_name(size) for size in written[2:]]
    listed.clear()
    audit_log_verify(full=False)
    assert listed == [checkpoints.checkpoint_file_name(size) for size in written]  # audit_verify lists every one


# --- The fast canonical-form check ---------------------------------------------------------------


@pytest.mark.parametrize("data", [
    {"n": 1}, {"text": "tab\there \"quoted\" back\\slash \x01\x7f"}, {"name": "Zoë 雪 😀", "\ue000": 1, "😀": 2},
    {"ratio": 0.1, "big": 1e21, "small": 1e-7, "whole": 2.0}, {"int": 9007199254740991, "neg": -5},
    {"nested": [{"b": None, "a": [True, False]}], "": ""},
])
def test_every_canonical_body_verifies_and_any_other_spelling_is_refused(data):
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    body = chain.canonical_body(occurred_at=at, action="test.event", actor="system:test", subject="thing:1", data=data)
    assert chain._canonical_document(body) == json.loads(body)
    for spelling in (json.dumps(json.loads(body)), json.dumps(json.loads(body), sort_keys=True),
                     json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))):
        if spelling != body:
            with pytest.raises(ValueError, match="not in canonical form"):
                chain._canonical_document(spelling)
    assert rfc8785.dumps(json.loads(body)).decode() == body


def test_a_float_spelled_the_python_way_is_not_canonical():
    with pytest.raises(ValueError, match="not in canonical form"):
        chain._canonical_document('{"x":1.0}')  # RFC 8785 writes 1
    with pytest.raises(ValueError, match="not in canonical form"):
        chain._canonical_document('{"x":1e+16}')
    with pytest.raises(ValueError, match="not in canonical form"):
        chain._canonical_document('{"x":12345678901234567890}')  # beyond what a JSON number holds exactly
    with pytest.raises(ValueError, match="not valid JSON"):
        chain._canonical_document('{"x":')
