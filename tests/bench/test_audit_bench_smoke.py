"""A reduced run of the audit benchmark (bench/audit.py), so it cannot rot: writers on a
throwaway PostgreSQL database, through `python bench/run.py audit`. Shape only."""

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
                                reason="the audit benchmark measures PostgreSQL (set DATABASE_URL)")


def test_a_reduced_audit_benchmark_reports_both_rates_and_the_ratio_and_ends_with_json(tmp_path):
    env = {**os.environ, "BESPOKE_DATA_DIR": str(tmp_path / "data"), "BESPOKE_BENCH_AUDIT_SECONDS": "0.3",
           "BESPOKE_BENCH_AUDIT_WRITERS": "1,2"}
    done = subprocess.run([sys.executable, "bench/run.py", "audit"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    for workload in ("plain", "io_wait"):
        one, two = report[f"{workload}_writers_1_per_s"], report[f"{workload}_writers_2_per_s"]
        assert one > 0 and two > 0
        assert report[f"{workload}_ratio"] == pytest.approx(two / one, rel=0.05)
    assert report["chain_ok"] is True and report["events"] > 0
    assert any(line.startswith("plain_ratio") for line in lines[:-1]), "the table lists the ratio"
