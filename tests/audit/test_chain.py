"""The audit log: every edit, deletion, reordering or cut is found; the database refuses changes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

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


def test_an_event_body_is_the_canonical_json_of_what_was_appended(five_events):
    assert five_events[0].body == (
        '{"action":"test.event","actor":"system:test","at":"%s","data":{"n":1},"subject":"thing:1","v":2}'
        % five_events[0].occurred_at.isoformat(timespec="microseconds"))


# Who Zora and her agent are: none of it may reach the hashed audit bytes (erasure must never break the chain).
ZORA = {"username": "zoraq", "email": "zora.quill@example.org", "first_name": "Zora", "last_name": "Quill"}
ULLA = {"username": "ullau", "email": "ulla.underhill@example.net", "first_name": "Ulla", "last_name": "Underhill"}
ZORA_LEGAL_NAME, ZORA_BORN = "Zora Quinta Quill", date(1987, 6, 5)
ULLA_LEGAL_NAME = "Ulla Ursula Underhill"
SIGNED_FROM = {"ip_address": "203.0.113.77", "user_agent": "ZoraPhone/4.2 (Quillbook)"}
PERSONAL = ["Zora", "Quill", "Quinta", "zoraq", "zora.quill@example.org", "Ulla", "Underhill", "Ursula", "ullau",
            "ulla.underhill@example.net", "1987-06-05", "05/06/1987", "06/05/1987", "19870605", "203.0.113.77",
            "ZoraPhone"]


def _signed(license, signer, *, ip_address: str, user_agent: str) -> None:  # type: ignore[no-untyped-def]
    from consent import services
    from consent.services import SignatureContext

    context = SignatureContext(text_sha256_seen=license.text_sha256, disclosure_accepted=True,
                               authentication_method="mfa", ip_address=ip_address, user_agent=user_agent)
    if license.status == "offered":
        services.license_sign(license=license, context=context, acting_user=signer)
    else:
        services.license_countersign(license=license, context=context, acting_user=signer)


def test_the_services_write_no_personal_data_into_audit_bodies(personas, django_user_model,
                                                               django_capture_on_commit_callbacks):
    from bespoke.synthetic_faces import synthetic_face_photos
    from bespoke.talent_data import talent_data_export
    from consent import desk, services
    from generation.services import render
    from tests.conftest import LICENSE_TERMS, SMALL_RENDER
    from tests.consent.evidence import evidence_files

    zora_user = django_user_model.objects.create_user(password="pw-zora-quill", **ZORA)
    ulla = django_user_model.objects.create_user(password="pw-ulla-underhill", **ULLA)
    zora = services.talent_enrol(user=zora_user, display_name="Zora Quill", acting_user=zora_user,
                                 invited_by=personas.studio)
    # The desk verifies her from sealed evidence: a legal name and a date of birth are recorded.
    verification = desk.identity_verification_request(talent=zora, method="video_call", acting_user=zora_user)
    face, capture = synthetic_face_photos(2)
    for kind, data in (("id_document", face), ("consent_capture", capture)):
        evidence = desk.identity_evidence_add(verification=verification, kind=kind, data=data,
                                              filename="Zora Quill passport.jpg", acting_user=zora_user)
    desk.identity_evidence_open(evidence=evidence, acting_user=personas.frank)
    desk.identity_verification_decide(verification=verification, approve=True, acting_user=personas.frank,
                                      legal_name=ZORA_LEGAL_NAME, birth_date=ZORA_BORN, note="Zora Quill matches.")
    desk.identity_verification_decide(verification=verification, approve=True, acting_user=personas.grace)
    # She names an agent, whom the desk verifies too.
    representation = desk.representation_request(talent=zora, representative=ulla, kind="agent",
                                                 acting_user=zora_user)
    for kind, (name, data) in evidence_files().items():
        desk.representation_evidence_add(representation=representation, kind=kind, data=data, filename=name,
                                         acting_user=ulla)
    desk.representation_decide(representation=representation, approve=True, acting_user=personas.frank,
                               legal_name=ULLA_LEGAL_NAME)
    desk.representation_decide(representation=representation, approve=True, acting_user=personas.grace)
    # A license signed from a known address and device, a photo, a render, an export, then erasure.
    today = timezone.localdate()
    license = services.license_draft(talent=zora, licensee=personas.studio, acting_user=personas.erin,
                                     **{**LICENSE_TERMS, "permitted_media": ["video"], "starts_on": today,
                                        "ends_on": today + timedelta(days=30), "max_renders": 3,
                                        "excluded_categories": ["political"]})
    services.license_offer(license=license, acting_user=personas.erin)
    _signed(license, zora_user, **SIGNED_FROM)
    _signed(license, personas.dana, ip_address="198.51.100.9", user_agent="LegalDesk/1.0")
    services.reference_photo_add(talent=zora, data=face, filename="Zora Quill.jpg", acting_user=zora_user)
    render.render_job_request(license_id=str(license.id), prompt="sks person walking", params=SMALL_RENDER,
                              acting_user=personas.bob)
    talent_data_export(talent=zora, acting_user=zora_user)
    with django_capture_on_commit_callbacks(execute=True):
        services.talent_erase(talent=zora, acting_user=zora_user)

    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"identity.verification_approved", "representation.approved", "license.signed", "likeness.photo_added",
            "render.requested", "license.revoked", "talent.erased"} <= actions, "the services ran and were recorded"
    for event in AuditEvent.objects.order_by("seq"):
        leaked = [value for value in PERSONAL if value.lower() in event.body.lower()]
        assert not leaked, f"{event.action} (seq {event.seq}) holds {leaked}: {event.body}"
    assert audit_chain_verify().ok


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
