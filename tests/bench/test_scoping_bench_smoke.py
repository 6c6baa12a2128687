"""A reduced run of the scoping benchmark (bench/scoping.py), so it cannot rot: a few thousand
licenses on a throwaway PostgreSQL database, through `python bench/run.py scoping`. Shape only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
                                reason="the scoping benchmark measures PostgreSQL (set DATABASE_URL)")


def test_a_reduced_scoping_benchmark_times_both_lists_before_and_after_and_ends_with_json(tmp_path):
    env = {**os.environ, "BESPOKE_DATA_DIR": str(tmp_path / "data"), "BESPOKE_BENCH_SCOPING_LICENSES": "2000",
           "BESPOKE_BENCH_SCOPING_VISIBLE": "60", "BESPOKE_BENCH_SCOPING_REPEAT": "1"}
    done = subprocess.run([sys.executable, "bench/run.py", "scoping"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["licenses"] == 2000 and report["renders"] == 2000 and report["audit_events"] == 2260
    assert report["visible_to_producer"] > 60
    for name in ("licenses", "renders"):
        assert report[f"{name}_before_ms"] > 0 and report[f"{name}_after_ms"] > 0
        assert 0 < report[f"{name}_after_queries"] <= 20
        assert report[f"{name}_speedup"] == pytest.approx(report[f"{name}_before_ms"] / report[f"{name}_after_ms"],
                                                          abs=0.1)
    assert any(line.startswith("renders_after_ms") for line in lines[:-1]), "the table lists the timings"
