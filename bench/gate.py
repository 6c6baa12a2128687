"""How long the consent gate takes to decide, among 100,000 licenses.

On a throwaway database of the server DATABASE_URL names (Django's test-database
machinery; PostgreSQL for real figures, SQLite works too) with the demo data (`bootstrap`),
the gate decides BESPOKE_BENCH_GATE_CHECKS times (default 1,000) each of:

- allowed: a full check that passes (the demo performer's countersigned license: every
  rule is evaluated);
- refused: a check the gate refuses (and audits) late, after reading the license, the
  talent's verification and the signatures: one of 1,000 copies of that license, picked at
  random, none of which was signed;
- locked: `check_locked` inside a transaction, the license row locked as revocation locks it;
- publish: `authorize_publication` inside the publishing transaction (license row locked,
  the use recorded and audited), committed; the license's render limit is raised on this
  throwaway copy so that the benchmark's publications stay within it.

Each figure is the gate's call alone, not the caller's commit (`_calls`).

It measures once with 1,000 more licenses of the same talent and studio (bench/scale_rows.py's
`more_visible_rows`), then again after seeding BESPOKE_BENCH_GATE_LICENSES licenses (default
100,000) of other talents at other studios (`seed_scale` on PostgreSQL; copies of the
license elsewhere). It reports p50 and p99 in milliseconds and the queries each check runs
at both sizes: a check must cost the same queries whatever the number of licenses.
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.throwaway_db import throwaway_database

BOOTSTRAP = False  # bench/run.py: this benchmark makes its own database
KINDS = ("allowed", "refused", "locked", "publish")
PROMPT = "The friend waits under the lit lamp by the lighthouse door"
SMALL = 1_000
GOAL_P99_MS = 5.0
GOAL_KINDS = ("allowed", "publish")  # the goal's checks: a full check and the locked publication check


_PUBLICATIONS = itertools.count()  # each committed publication records another output


def run() -> dict[str, Any]:
    from django.conf import settings
    from django.core.management import call_command

    settings.DEBUG = False  # as served: no query log
    licenses = int(os.environ.get("BESPOKE_BENCH_GATE_LICENSES", "100000"))
    checks = int(os.environ.get("BESPOKE_BENCH_GATE_CHECKS", "1000"))
    if licenses < SMALL:
        raise SystemExit(f"BESPOKE_BENCH_GATE_LICENSES must be at least {SMALL}")
    with throwaway_database("gate"):
        with open(os.devnull, "w") as quiet:
            call_command("bootstrap", verbosity=0, stdout=quiet)
        return _measure(licenses=licenses, checks=checks)


def _measure(*, licenses: int, checks: int) -> dict[str, Any]:
    from django.db import connection

    from audit.models import AuditEvent
    from bench.scale_rows import more_visible_rows, seed_scale
    from consent.models import LikenessLicense
    from generation.models import RenderJob

    allowed = LikenessLicense.objects.get(talent__user__username="theo", interactive=True,
                                          status=LikenessLicense.Status.COUNTERSIGNED)
    render = RenderJob.objects.create(license_id=allowed.pk, requested_by=allowed.countersigned_by, params={},
                                      max_attempts=1, prompt=PROMPT)
    LikenessLicense.objects.filter(pk=allowed.pk).update(max_renders=10 * checks + 1_000)
    decision, _ = _calls(str(allowed.pk))["allowed"]()
    if not decision.allowed:
        raise RuntimeError(f"the demo performer's license is refused: {decision.message}")

    results: dict[str, Any] = {"database": connection.vendor, "checks_each": checks}
    started = time.perf_counter()
    more_visible_rows(license=allowed, render=render, count=SMALL)
    small = _measure_size(allowed, checks)
    if connection.vendor == "postgresql":
        seed_scale(license=allowed, render=render, event=AuditEvent.objects.order_by("occurred_at").first(),
                   licenses=licenses - SMALL)
    else:  # seed_scale writes PostgreSQL's SQL; elsewhere, copies of the license under the same talent
        more_visible_rows(license=allowed, render=render, count=licenses - SMALL)
    results["seed_s"] = round(time.perf_counter() - started, 1)
    full = _measure_size(allowed, checks)
    results["licenses_small"], results["licenses_full"] = small.pop("licenses"), full.pop("licenses")
    for kind in KINDS:
        results[f"{kind}_p50_ms"], results[f"{kind}_p99_ms"] = full[kind]
        results[f"{kind}_p99_ms_small"] = small[kind][1]
        results[f"{kind}_queries_small"] = small[f"{kind}_queries"]
        results[f"{kind}_queries_full"] = full[f"{kind}_queries"]
    results["queries_grow"] = any(full[f"{kind}_queries"] > small[f"{kind}_queries"] for kind in KINDS)
    results["worst_p99_ms"] = max(results[f"{kind}_p99_ms"] for kind in KINDS)
    results["goal_p99_ms"] = GOAL_P99_MS
    results["goal_met"] = max(results[f"{kind}_p99_ms"] for kind in GOAL_KINDS) <= GOAL_P99_MS
    return results


def _measure_size(allowed: Any, checks: int) -> dict[str, Any]:
    """p50 and p99 of each kind of check and its query count, at the current number of licenses."""
    from consent import gate
    from consent.models import LikenessLicense

    unsigned = LikenessLicense.objects.filter(talent_id=allowed.talent_id, licensee_id=allowed.licensee_id).exclude(
        pk=allowed.pk)
    others = list(unsigned.order_by("?").values_list("pk", flat=True)[:500])
    picks = random.Random(7)
    measured: dict[str, Any] = {"licenses": LikenessLicense.objects.count()}
    for kind in KINDS:
        def one(queries: list[int] | None = None) -> tuple[Any, float]:
            license_id = str(picks.choice(others)) if kind == "refused" else str(allowed.pk)
            return _calls(license_id, queries)[kind]()

        for _ in range(20):  # warm up: connection, query compilation, caches
            one()
        counted: list[int] = []
        decision, _ = one(counted)
        expected = gate.Reason.TEXT_CHANGED if kind == "refused" else None
        if decision.allowed != (kind != "refused") or decision.reason != expected:
            raise RuntimeError(f"a {kind} check decided {decision.as_dict()}")
        measured[f"{kind}_queries"] = counted[0]
        measured[kind] = _percentiles([one()[1] for _ in range(checks)])
    return measured


def _calls(license_id: str, queries: list[int] | None = None) -> dict[str, Callable[[], tuple[Any, float]]]:
    """Each kind of check as a call returning its decision and the milliseconds the gate took.

    Only the gate's call is timed: the BEGIN it starts with is its own (a transaction begins
    with its first statement), the caller's COMMIT is not. Publications commit, as a worker's
    do: rolling them back, even to a savepoint, would also make psycopg drop the connection's
    prepared statements (it does on any ROLLBACK), which committed publications keep. With
    ``queries``, the statements the gate's call ran are counted there.
    """
    from django.db import transaction

    from consent import gate

    use = gate.UseRequest(license_id, "video", PROMPT)
    subject = "render:bench"

    def check() -> tuple[Any, float]:
        return _timed(lambda: gate.check(use=use, stage=gate.Stage.CLAIM, actor="system:bench", subject=subject),
                      queries)

    def locked() -> tuple[Any, float]:
        with transaction.atomic():
            return _timed(lambda: gate.check_locked(use=use, stage=gate.Stage.STEP, actor="system:bench",
                                                    subject=subject), queries)

    def publish() -> tuple[Any, float]:
        with transaction.atomic():  # committed, as a worker's publication is
            n = next(_PUBLICATIONS)
            return _timed(lambda: gate.authorize_publication(
                use=use, output_ref=f"output:bench-{n}", job_ref=f"render:bench-{n}", subject=subject,
                actor="system:bench"), queries)

    return {"allowed": check, "refused": check, "locked": locked, "publish": publish}


def _timed(call: Callable[[], Any], queries: list[int] | None) -> tuple[Any, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if queries is not None:
        with CaptureQueriesContext(connection) as captured:
            result = call()
        queries.append(len(captured))
        return result, 0.0
    started = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - started) * 1000


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return round(statistics.median(samples), 3), round(cuts[98], 3)
