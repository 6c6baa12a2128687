"""A reduced run of the scoping benchmark (bench/scoping.py), so it cannot rot: a few thousand
licenses on a throwaway PostgreSQL database, through `python bench/run.py scoping`. Shape only."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.bench import bench_run

pytestmark = pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
                                reason="the scoping benchmark measures PostgreSQL (set DATABASE_URL)")


def test_a_reduced_scoping_benchmark_times_both_lists_before_and_after_and_ends_with_json(tmp_path):
    report, lines = bench_run("scoping", tmp_path,
                              BESPOKE_BENCH_SCOPING_LICENSES="2000", BESPOKE_BENCH_SCOPING_VISIBLE="60",
                              BESPOKE_BENCH_SCOPING_REPEAT="1")
    assert report["licenses"] == 2000 and report["renders"] == 2000 and report["audit_events"] == 2260
    assert report["visible_to_producer"] > 60
    for name in ("licenses", "renders"):
        assert report[f"{name}_before_ms"] > 0 and report[f"{name}_after_ms"] > 0
        assert 0 < report[f"{name}_after_queries"] <= 20
        assert report[f"{name}_speedup"] == pytest.approx(report[f"{name}_before_ms"] / report[f"{name}_after_ms"],
                                                          abs=0.1)
    assert any(line.startswith("renders_after_ms") for line in lines), "the table lists the timings"
