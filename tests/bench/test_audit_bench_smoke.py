"""A reduced run of the audit benchmark (bench/audit.py), so it cannot rot: writers on a
throwaway PostgreSQL database, and verification on either database, through
`python bench/run.py audit`. Shape only."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.bench import bench_run

POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
VERIFY_EVENTS, VERIFY_TAIL = 3000, 200
CHECKPOINT_EVENTS, CHECKPOINT_TAIL = 6000, 150


def _run(tmp_path: Path, **extra: str) -> tuple[dict, list[str]]:
    return bench_run("audit", tmp_path, BESPOKE_BENCH_AUDIT_VERIFY_EVENTS=str(VERIFY_EVENTS),
                     BESPOKE_BENCH_AUDIT_VERIFY_TAIL=str(VERIFY_TAIL),
                     BESPOKE_BENCH_AUDIT_CHECKPOINT_EVENTS=str(CHECKPOINT_EVENTS),
                     BESPOKE_BENCH_AUDIT_CHECKPOINT_TAIL=str(CHECKPOINT_TAIL), **extra)


def _assert_verification_figures(report: dict, lines: list[str]) -> None:
    assert report["verify_events"] >= VERIFY_EVENTS
    assert report["verify_full_events_per_s"] > 0 and report["verify_default_events_per_s"] > 0
    assert report["verify_default_events_walked"] == VERIFY_TAIL  # from the checkpoint, not from the first event
    assert report["portal_status_cold_ms"] > 0 and report["portal_status_after_100_new_ms"] > 0
    # The whole page, loaded as a studio's legal staff (the run fails if it is not a verified 200).
    assert report["portal_page_cold_ms"] > 0 and report["portal_page_after_100_new_ms"] > 0
    assert report["portal_page_goal_ms"] == 300
    assert report["checkpoint_write_s"] > 0
    # The first checkpoint of the grown log reads every event; the next only those added since.
    assert report["checkpoint_events"] == report["checkpoint_first_events_read"] == CHECKPOINT_EVENTS
    assert report["checkpoint_next_events_read"] == CHECKPOINT_TAIL
    assert report["checkpoint_first_s"] > 0 and report["checkpoint_next_s"] > 0
    assert report["checkpoint_roots_verified_full_s"] > 0
    assert any(line.startswith("verify_full_events_per_s") for line in lines), "the table lists the rates"


@pytest.mark.skipif(POSTGRESQL, reason="on PostgreSQL the writers' run below measures verification too")
def test_a_reduced_audit_benchmark_measures_verification_on_sqlite(tmp_path):
    report, lines = _run(tmp_path, DATABASE_URL="")
    assert report["database"] == "sqlite"
    _assert_verification_figures(report, lines)


@pytest.mark.skipif(not POSTGRESQL, reason="the audit benchmark's writers measure PostgreSQL (set DATABASE_URL)")
def test_a_reduced_audit_benchmark_reports_both_rates_and_the_ratio_and_ends_with_json(tmp_path):
    report, lines = _run(tmp_path, BESPOKE_BENCH_AUDIT_SECONDS="0.3", BESPOKE_BENCH_AUDIT_WRITERS="1,2")
    for workload in ("plain", "io_wait"):
        one, two = report[f"{workload}_writers_1_per_s"], report[f"{workload}_writers_2_per_s"]
        assert one > 0 and two > 0
        assert report[f"{workload}_ratio"] == pytest.approx(two / one, rel=0.05)
    assert report["chain_ok"] is True and report["events"] > 0
    assert any(line.startswith("plain_ratio") for line in lines), "the table lists the ratio"
    _assert_verification_figures(report, lines)
