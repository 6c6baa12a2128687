"""The consent gate decides in a fixed number of queries, however many licenses, uses and
signatures there are: a check that passes reads once; a locked check locks the license row,
then reads once more; a refusal adds only its audit event and the seal after commit.

These tests commit, as production does (the seal runs after the commit, not at append)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from consent import gate, services
from consent.models import LicenseUse
from tests.conftest import make_license

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = "sks person walking along a beach at sunset"

# The seal after a refusal's commit: one function call and a look for events still pending on
# PostgreSQL; on SQLite, in Python, a transaction that reads the head and the pending events,
# writes them and the head, then the same look.
SEAL_QUERIES = {"postgresql": 2, "sqlite": 7}


def _use(license, **fields: object) -> gate.UseRequest:  # type: ignore[no-untyped-def]
    return gate.UseRequest(str(license.id), "video", PROMPT, **fields)


def _queries(decide) -> tuple[gate.GateDecision, list[str]]:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        decision = decide()
    return decision, [query["sql"] for query in captured.captured_queries]


def _check(license, **fields: object) -> tuple[gate.GateDecision, list[str]]:  # type: ignore[no-untyped-def]
    return _queries(lambda: gate.check(use=_use(license, **fields), stage=gate.Stage.STEP,
                                       actor="system:worker", subject="render:job-1"))


def _locked(license) -> tuple[gate.GateDecision, list[str]]:  # type: ignore[no-untyped-def]
    with transaction.atomic():  # the caller's transaction: its BEGIN and COMMIT are not the gate's
        return _queries(lambda: gate.check_locked(use=_use(license), stage=gate.Stage.CLAIM,
                                                  actor="system:worker", subject="render:job-1"))


def _publish(license, job: str) -> tuple[gate.GateDecision, list[str]]:  # type: ignore[no-untyped-def]
    with transaction.atomic():
        return _queries(lambda: gate.authorize_publication(use=_use(license), output_ref=f"output:{job}",
                                                           job_ref=job, subject=job, actor="system:worker"))


def _busy(personas, license) -> None:  # type: ignore[no-untyped-def]
    """More of everything a check could read row by row: licenses of the same talent and
    studio (one revoked), and uses recorded under the license."""
    for _ in range(3):
        make_license(personas)
    services.license_revoke(license=make_license(personas), reason="Withdrawn.", acting_user=personas.alice)
    for n in range(3):
        LicenseUse.objects.create(license=license, output_ref=f"output:{n}", job_ref=f"render:{n}")


def test_a_check_that_passes_reads_once_however_busy_the_license(personas):
    license = make_license(personas, max_renders=10)
    decision, quiet = _check(license)
    assert decision.allowed and len(quiet) == 1
    _busy(personas, license)
    decision, busy = _check(license)
    assert decision.allowed and len(busy) == 1


def test_a_locked_check_locks_then_reads_in_a_savepoint(personas):
    license = make_license(personas, max_renders=10)
    decision, quiet = _locked(license)
    assert decision.allowed and len(quiet) == 4, quiet  # savepoint, lock, read, release
    assert "FOR UPDATE" in quiet[1] or not connection.features.has_select_for_update
    _busy(personas, license)
    decision, busy = _locked(license)
    assert decision.allowed and len(busy) == 4, busy


def test_a_publication_adds_only_the_use_and_its_audit_event(personas):
    license = make_license(personas, max_renders=10)
    decision, quiet = _publish(license, "render:first")
    assert decision.allowed and len(quiet) == 6, quiet  # the locked check, the use, the audit event
    _busy(personas, license)
    decision, busy = _publish(license, "render:second")
    assert decision.allowed and len(busy) == 6, busy
    assert LicenseUse.objects.filter(license=license).count() == 5


def test_a_refusal_adds_its_audit_event_and_the_seal_after_commit(personas):
    license = make_license(personas, countersigned=False)
    decision, quiet = _check(license)
    assert decision.reason == gate.Reason.NOT_COUNTERSIGNED
    assert len(quiet) == 2 + SEAL_QUERIES[connection.vendor], quiet  # the read, the audit event, the seal
    _busy(personas, license)
    decision, busy = _check(license)
    assert decision.reason == gate.Reason.NOT_COUNTERSIGNED and len(busy) == len(quiet)
    refusals = AuditEvent.objects.filter(action="consent.gate_refused")
    assert refusals.count() == 2 and not refusals.filter(seq__isnull=True).exists(), "both refusals are sealed"


def test_a_check_for_an_approved_job_reads_its_approval_in_the_same_query(personas):
    license = make_license(personas, requires_use_approval=True)
    decision, queries = _check(license, job_ref="render:unapproved")
    assert decision.reason == gate.Reason.USE_NOT_APPROVED
    assert len(queries) == 2 + SEAL_QUERIES[connection.vendor]


def _prepared_statements() -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return cursor.fetchall()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_on_postgresql_the_gates_read_is_prepared_on_its_connection_from_the_third_check(personas):
    license = make_license(personas, max_renders=10)
    connection.close()  # a connection of this test's own: nothing prepared on it yet
    for _ in range(5):
        decision, queries = _check(license)
        assert decision.allowed and len(queries) == 1
    prepared = _prepared_statements()
    assert len(prepared) == 1 and "consent_likenesslicense" in prepared[0][0]
    assert prepared[0][1] == 3  # the third, fourth and fifth checks ran the prepared statement
    revoked = make_license(personas, max_renders=10)
    services.license_revoke(license=revoked, reason="Withdrawn.", acting_user=personas.alice)
    assert _check(revoked)[0].reason == gate.Reason.REVOKED  # the same statement, another license


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_with_prepared_statements_turned_off_nothing_is_prepared(personas, monkeypatch):
    license = make_license(personas, max_renders=10)
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "prepare_threshold", None)
    connection.close()
    for _ in range(5):
        assert _check(license)[0].allowed
    assert _prepared_statements() == []
    connection.close()  # the next test connects with the settings restored
