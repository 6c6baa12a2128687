"""A reduced run of the signing benchmark (bench/signing.py), so it cannot rot: a 20 KB and a
3 MB clip through `python bench/run.py signing`. Shape and correctness only, no timing goal:
the reduced clips are too small, and the machine too shared, for the ratio to mean much."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_a_reduced_signing_run_reports_raw_and_bespoke_times_and_ends_with_json(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(BESPOKE_DATA_DIR=str(tmp_path / "data"), OMP_NUM_THREADS="1", BESPOKE_SIGNING_BENCH_SMALL="1")
    done = subprocess.run([sys.executable, "bench/run.py", "signing"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1])

    assert report["goal_ratio"] == 1.10 and isinstance(report["within_goal"], bool)
    for case in ("20KB", "3MB"):
        figures = report[case]
        assert figures["raw_seconds"] > 0 and figures["bespoke_seconds"] > 0 and figures["reread_seconds"] > 0
        assert figures["bespoke_ratio"] == pytest.approx(figures["bespoke_seconds"] / figures["raw_seconds"], abs=0.01)
        assert any(line.startswith(case + " ") for line in lines), "a table row per clip"
    assert 10_000 < report["20KB"]["bytes"] < 40_000
    assert 2_000_000 < report["3MB"]["bytes"] < 5_000_000
