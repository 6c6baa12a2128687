"""A reduced run of the load benchmark (bench/load.py), so it cannot rot: gunicorn on a
throwaway PostgreSQL database with 1,000 licenses, five locust users for twelve seconds,
through `python bench/run.py load`. Shape and zero failures only, not the timings."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.bench import bench_run

pytestmark = [
    pytest.mark.serial,  # it purges the render queues of the broker the integration tests use
    pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
                       reason="the load benchmark measures PostgreSQL (set DATABASE_URL)"),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")),
                       reason="the load benchmark queues render requests on Redis (set CELERY_BROKER_URL)"),
]

ENDPOINTS = (
    "GET /api/v1/licenses/", "GET /api/v1/licenses/{id}/", "GET /api/v1/renders/", "GET /api/v1/renders/{id}/",
    "POST /api/v1/renders/", "POST /api/v1/renders/{id}/approve/", "GET /audit/", "GET /audit/?page=N",
    "GET /audit/?subject=license:{id}", "GET /verify/consent/{id}", "GET /verify/",
)


def test_a_reduced_load_run_measures_every_persona_s_endpoints_without_a_failure(tmp_path):
    report, lines = bench_run("load", tmp_path, timeout=120, BESPOKE_BENCH_LOAD_LICENSES="1000",
                              BESPOKE_BENCH_LOAD_USERS="5", BESPOKE_BENCH_LOAD_SECONDS="12",
                              BESPOKE_BENCH_LOAD_WORKERS="2", BESPOKE_BENCH_LOAD_WARM_UP_SECONDS="3")
    assert report["licenses"] == 1000 and report["audit_events"] == 1130
    assert report["failures"] == 0, report["failure_messages"]
    assert set(ENDPOINTS) <= set(report["whole_run_endpoints"]), sorted(report["whole_run_endpoints"])
    for name in ENDPOINTS:
        stats = report["whole_run_endpoints"][name]
        assert stats["requests"] > 0 and stats["failures"] == 0 and stats["p99"] >= stats["p50"] > 0, name
    # The goals are judged on the requests after the warm-up: fewer, from the same run.
    # Requests in flight at the end may take up to locust's stop timeout (5 s) to finish.
    assert report["warm_up_seconds"] == 3 and 0 < report["steady_seconds"] < 12 + 5
    assert report["endpoints"] and set(report["endpoints"]) <= set(report["whole_run_endpoints"])
    for name, stats in report["endpoints"].items():
        assert 0 < stats["requests"] <= report["whole_run_endpoints"][name]["requests"], name
    # Render requests queued their jobs (at once, or once the talent approved): purged after the run.
    assert report["render_messages_queued_then_purged"] > 0
    assert report["status_requests_per_minute_raised_to"] > 120, "the bench says it raised the status limit"
    assert isinstance(report["goals_met"], bool)
    assert any(line.startswith("GET /verify/consent/{id}") for line in lines), "the table lists each endpoint"
