"""How long a producer waits for the license and render lists among 100,000 licenses.

On a throwaway PostgreSQL database (Django's test-database machinery) with the demo data
(`bootstrap`), Bob (a producer at Northlight Studios) sees his studio's licenses and a
render under each, among BESPOKE_BENCH_SCOPING_LICENSES (default 100,000) licenses of
other talents at other studios, one render each and 1.13 audit events each
(bench/scale_rows.py). GET /api/v1/licenses/ and /api/v1/renders/ are timed in this
process through Django's test client, BESPOKE_BENCH_SCOPING_REPEAT times each (the median
is reported), twice:

- before: with the former scoping (one OR of subqueries over the talent, the represented
  talents, the signer and the licensee's members, which PostgreSQL answers by scanning
  every license, and every render for the render list), patched in for the run;
- after: with the scoping as it is (consent.selectors, generation.selectors).

The queries per request are counted for both.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from unittest import mock

from bench.throwaway_db import throwaway_database

BOOTSTRAP = False  # bench/run.py: this benchmark makes its own database
URLS = {"licenses": "/api/v1/licenses/", "renders": "/api/v1/renders/"}


def _former_licenses_for_user(*, user: Any) -> Any:
    """The scoping as it was: an OR across subqueries, wrapped in a second lookup by id."""
    from django.db.models import Q

    from consent.models import LikenessLicense, Representation
    from consent.policies import studio_organization_ids

    if not user.is_authenticated:
        return LikenessLicense.objects.none()
    represented = Representation.objects.filter(representative_id=user.pk,
                                                status=Representation.Status.APPROVED).values("talent_id")
    visible = (Q(talent__user_id=user.pk) | Q(talent_id__in=represented) | Q(signed_by_id=user.pk)
               | Q(licensee_id__in=studio_organization_ids(user)))
    return (LikenessLicense.objects.filter(pk__in=LikenessLicense.objects.filter(visible).values("pk"))
            .select_related("talent", "licensee", "signed_under").prefetch_related("signatures")
            .order_by("-created_at"))


def _former_render_jobs_for_user(*, user: Any) -> Any:
    from django.db.models import Q

    from generation.models import RenderJob

    if not user.is_authenticated:
        return RenderJob.objects.none()
    license_ids = _former_licenses_for_user(user=user).values("id")
    visible = RenderJob.objects.filter(Q(license_id__in=license_ids) | Q(cast__license_id__in=license_ids)).values("id")
    return RenderJob.objects.filter(pk__in=visible).select_related("output").order_by("-created_at")


def _former_scoping() -> ExitStack:
    stack = ExitStack()
    stack.enter_context(mock.patch("consent.selectors.licenses_for_user", _former_licenses_for_user))
    stack.enter_context(mock.patch("generation.selectors.render_jobs_for_user", _former_render_jobs_for_user))
    return stack


def _time(get: Callable[[], Any], repeat: int) -> tuple[float, int]:
    """The median milliseconds of `repeat` requests (after one warm-up), and its query count."""
    from django.db import connection

    executed: list[str] = []

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = get()
    assert response.status_code == 200, response.content[:500]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        get()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1), len(executed)


def run() -> dict[str, Any]:
    from django.conf import settings
    from django.core.management import call_command

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("the scoping benchmark measures PostgreSQL: set DATABASE_URL=postgres://...")
    settings.DEBUG = False  # as served: no query log, no debug pages
    licenses = int(os.environ.get("BESPOKE_BENCH_SCOPING_LICENSES", "100000"))
    visible = int(os.environ.get("BESPOKE_BENCH_SCOPING_VISIBLE", "200"))
    repeat = int(os.environ.get("BESPOKE_BENCH_SCOPING_REPEAT", "20"))
    with throwaway_database("scoping"):
        with open(os.devnull, "w") as quiet:
            call_command("bootstrap", verbosity=0, stdout=quiet)
        return _measure(licenses=licenses, visible=visible, repeat=repeat)


def _measure(*, licenses: int, visible: int, repeat: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from audit.models import AuditEvent
    from bench.scale_rows import more_visible_rows, seed_scale
    from consent.models import LikenessLicense
    from generation.models import RenderJob

    bob = get_user_model().objects.get(username="bob")
    studio_license = LikenessLicense.objects.filter(licensee__memberships__user=bob).order_by("created_at").first()
    render = RenderJob.objects.create(license_id=studio_license.pk, requested_by=bob, params={}, max_attempts=1,
                                      prompt="A walk along the harbour")
    started = time.perf_counter()
    rows = seed_scale(license=studio_license, render=render, event=AuditEvent.objects.order_by("occurred_at").first(),
                      licenses=licenses)
    more_visible_rows(license=studio_license, render=render, count=visible)
    seed_s = time.perf_counter() - started
    client = Client()
    client.force_login(bob)
    results: dict[str, Any] = {"licenses": rows.licenses, "renders": rows.renders, "audit_events": rows.events,
                               "visible_to_producer": LikenessLicense.objects.filter(
                                   licensee__memberships__user=bob).count(),
                               "seed_s": round(seed_s, 1), "repeat": repeat}
    for name, url in URLS.items():
        with _former_scoping():
            results[f"{name}_before_ms"], results[f"{name}_before_queries"] = _time(lambda: client.get(url), repeat)
        results[f"{name}_after_ms"], results[f"{name}_after_queries"] = _time(lambda: client.get(url), repeat)
        results[f"{name}_speedup"] = round(results[f"{name}_before_ms"] / max(results[f"{name}_after_ms"], 0.1), 1)
    return results
