"""Moving an existing log to sealing after commit: every event keeps its place and its
hashes, the chain goes on after them, and the guard stands again."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from audit import chain
from audit.models import GENESIS_HASH

BEFORE = [("audit", "0002_append_only_guard")]


def _migrate(targets):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def log_before_the_seal():  # type: ignore[no-untyped-def]
    """The schema as it was (seq the primary key); every app's latest schema again afterwards."""
    yield _migrate(BEFORE)
    _migrate(None)


def _version_1_body(seq: int, at: object) -> str:
    from rfc8785 import dumps

    return dumps({"v": 1, "seq": seq, "at": at.isoformat(timespec="microseconds"), "action": "test.old",
                  "actor": "system:test", "subject": f"thing:{seq}", "data": {"n": seq}}).decode()


@pytest.mark.django_db(transaction=True)
def test_existing_events_keep_their_place_and_the_chain_goes_on(log_before_the_seal):
    AuditEvent = log_before_the_seal.get_model("audit", "AuditEvent")
    AuditChainHead = log_before_the_seal.get_model("audit", "AuditChainHead")
    prev, at = GENESIS_HASH, timezone.now()
    for seq in (1, 2, 3):
        body = _version_1_body(seq, at)
        leaf = chain.leaf_hash(body)
        entry = chain.entry_hash(prev, leaf)
        AuditEvent.objects.create(seq=seq, occurred_at=at, action="test.old", actor="system:test",
                                  subject=f"thing:{seq}", body=body, leaf_hash=leaf, prev_hash=prev, entry_hash=entry)
        prev = entry
    AuditChainHead.objects.create(pk=1, seq=3, entry_hash=prev)

    _migrate(None)
    from audit.models import AuditEvent as Event
    from audit.selectors import audit_chain_verify
    from audit.services import audit_append

    with transaction.atomic():
        audit_append(action="test.new", actor="system:test", subject="thing:4")
    assert list(Event.objects.order_by("seq").values_list("seq", "action")) == [
        (1, "test.old"), (2, "test.old"), (3, "test.old"), (4, "test.new")]
    assert Event.objects.get(seq=4).prev_hash == prev
    report = audit_chain_verify()
    assert report.ok and report.events == 4
    for statement in ("UPDATE audit_auditevent SET subject = 'thing:forged' WHERE seq = 2",
                      "DELETE FROM audit_auditevent WHERE seq = 3"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
