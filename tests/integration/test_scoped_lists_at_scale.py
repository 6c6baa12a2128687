"""Scoped lists at 100,000 licenses on PostgreSQL: each one an index lookup, never a scan of
every license, render or audit event, and a fixed number of queries per API list page
however many rows the caller sees.

Bob (a producer at Northlight Studios) and Alice (the talent) see a few licenses among
100,000 of other talents at other studios; Dana (legal staff) reads her studio's audit log
among 113,000 events.
"""

from __future__ import annotations

import json
import os

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.selectors import audit_events_newest_first, audit_events_search
from bench.scale_rows import more_visible_rows, seed_scale
from bespoke.portal.audit_scope import audit_organizations_for_user, organization_audit_subjects
from consent.models import LikenessLicense
from consent.selectors import licenses_for_user, talents_for_user
from generation.models import RenderJob
from generation.selectors import render_jobs_for_user
from tests.conftest import make_license

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SCANNED_NEVER = {LikenessLicense._meta.db_table, RenderJob._meta.db_table, AuditEvent._meta.db_table}
MOST_ROWS_READ = 5_000  # what a scope of a few hundred rows may read, far from 100,000


@pytest.fixture(autouse=True)
def real_services() -> None:
    """Only PostgreSQL is needed here (this overrides the package's fixture, which also wants Redis)."""
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    if os.environ.get("BESPOKE_REQUIRE_SERVICES") == "1":
        pytest.fail("integration services required but unavailable: DATABASE_URL does not point at PostgreSQL")
    pytest.skip("integration services unavailable: DATABASE_URL does not point at PostgreSQL")


def _scans(queryset) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    """(node type, table, rows read) of every scan in the query's plan, as it ran."""
    found: list[tuple[str, str, int]] = []

    def walk(node: dict) -> None:
        if "Relation Name" in node:
            read = sum(node.get(key, 0) for key in ("Actual Rows", "Rows Removed by Filter",
                                                     "Rows Removed by Index Recheck"))
            found.append((node["Node Type"], node["Relation Name"], read * node.get("Actual Loops", 1)))
        for child in node.get("Plans", []):
            walk(child)

    for entry in json.loads(queryset.explain(format="json", analyze=True)):
        walk(entry["Plan"])
    return found


def _assert_indexed(queryset, what: str) -> None:  # type: ignore[no-untyped-def]
    """No sequential scan of licenses, renders or events, and no scan reading more than a
    few thousand of their rows (an index read in order, filtered row by row, is a scan too)."""
    for query in (queryset, queryset[:50]):  # the count of the whole list, and its first page
        scans = _scans(query)
        assert {table for _, table, _ in scans} & SCANNED_NEVER, f"{what}: the plan reads none of the tables: {scans}"
        scanned = [(node, table, read) for node, table, read in scans
                   if table in SCANNED_NEVER and (node == "Seq Scan" or read > MOST_ROWS_READ)]
        assert not scanned, f"{what} scans: {scanned}, in {scans}"


def _queries(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured)


def test_scoped_lists_use_indexes_and_a_fixed_number_of_queries_at_100000_licenses(
        personas, django_assert_max_num_queries):  # type: ignore[no-untyped-def]
    license = make_license(personas)
    render = RenderJob.objects.create(license_id=license.pk, requested_by=personas.bob, params={}, max_attempts=1,
                                      prompt="Mara walks through the night market")
    bob = APIClient()
    bob.force_login(personas.bob)
    few = {url: _queries(bob, url) for url in ("/api/v1/licenses/", "/api/v1/renders/")}

    rows = seed_scale(license=license, render=render, event=AuditEvent.objects.order_by("occurred_at").first())
    assert rows.licenses == 100_000 and rows.renders == 100_000 and rows.events == 113_000
    more_visible_rows(license=license, render=render, count=60)  # more than a page of them
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {LikenessLicense._meta.db_table}; ANALYZE {RenderJob._meta.db_table}")

    _assert_indexed(licenses_for_user(user=personas.bob), "the producer's licenses")
    _assert_indexed(licenses_for_user(user=personas.alice), "the talent's licenses")
    _assert_indexed(talents_for_user(user=personas.bob), "the producer's talents")
    _assert_indexed(render_jobs_for_user(user=personas.bob), "the producer's renders")
    _assert_indexed(render_jobs_for_user(user=personas.alice), "the talent's renders")
    studio_log = audit_events_search(within=organization_audit_subjects(
        organizations=audit_organizations_for_user(user=personas.dana)))
    # The studio's events are older than the 113,000 others: walking the log backwards would
    # read them all to fill a page, so the page reads the studio's events by subject.
    _assert_indexed(audit_events_newest_first(studio_log, matching=studio_log.count(), through=50),
                    "the studio's audit log")

    assert licenses_for_user(user=personas.bob).count() == 61
    assert licenses_for_user(user=personas.charlie).count() == 0
    assert list(talents_for_user(user=personas.bob)) == [personas.talent]
    assert render_jobs_for_user(user=personas.alice).count() == 61
    for url, queries in few.items():  # as many as with one license and one render
        with django_assert_max_num_queries(queries):
            assert bob.get(url).status_code == 200
    page = bob.get("/api/v1/renders/").json()
    assert page["count"] == 61 and len(page["results"]) == 50
