"""A locked check that waited for the license row decides on what the transaction it waited
for committed (PostgreSQL, two connections).

In READ COMMITTED, the statement that waits for a row lock re-reads the locked row, but not
the rows its subqueries read: those are as they were when the statement began. So the uses
recorded and the revocations committed while the gate waited must be read by a statement
issued after the lock is granted, or the last render allowed would be published twice."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from consent import gate
from consent.models import LicenseUse
from tests.conftest import make_license

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")]

PROMPT = "sks person walking along a beach at sunset"


def _publish(license, job: str) -> gate.GateDecision:  # type: ignore[no-untyped-def]
    return gate.authorize_publication(use=gate.UseRequest(str(license.id), "video", PROMPT), output_ref=f"output:{job}",
                                      job_ref=job, subject=job, actor="system:worker")


def _waiting_for_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = "
                       "current_database()")
        return cursor.fetchone()[0] > 0


def test_the_last_render_allowed_is_published_once_when_two_workers_race_for_it(personas):
    license = make_license(personas, max_renders=1)
    second: list[gate.GateDecision] = []
    first_holds_the_lock, released = threading.Event(), threading.Event()

    def first_worker() -> None:
        try:
            with transaction.atomic():
                assert _publish(license, "render:first").allowed
                first_holds_the_lock.set()
                released.wait(timeout=30)
        finally:
            connections.close_all()

    def second_worker() -> None:
        try:
            with transaction.atomic():
                second.append(_publish(license, "render:second"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first_worker)]
    threads[0].start()
    assert first_holds_the_lock.wait(timeout=30)
    threads.append(threading.Thread(target=second_worker))
    threads[1].start()
    deadline = time.monotonic() + 30
    while not _waiting_for_a_lock() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _waiting_for_a_lock(), "the second worker waits for the license row"
    released.set()
    for thread in threads:
        thread.join(timeout=30)

    [decision] = second
    assert (decision.allowed, decision.reason) == (False, gate.Reason.RENDER_LIMIT_REACHED)
    assert list(LicenseUse.objects.filter(license=license).values_list("job_ref", flat=True)) == ["render:first"]
