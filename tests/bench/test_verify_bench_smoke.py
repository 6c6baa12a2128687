"""A reduced run of the hostile-upload benchmark (bench/verify_hostile.py), so it cannot rot:
small variants of every file through `python bench/run.py verify`. Shape only, no timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_reduced_verify_run_reports_every_file_and_ends_with_json(tmp_path):
    # The benchmark runs on its own embedded data folder (SQLite), as `bench/run.py` does by
    # default, whatever database the suite itself runs on.
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(BESPOKE_DATA_DIR=str(tmp_path / "data"), OMP_NUM_THREADS="1", BESPOKE_VERIFY_BENCH_SMALL="1")
    done = subprocess.run([sys.executable, "bench/run.py", "verify"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1])

    assert {"max_seconds", "max_in_process_seconds", "max_http_seconds", "goal_seconds", "within_goal"} <= set(report)
    assert report["goal_seconds"] == 2.0
    names = set(report["seconds"])
    assert report["files"] == len(names) and names == set(report["outcomes"])
    assert {"huge_sides_8192", "pixel_bomb", "many_boxes", "garbage", "real_output"} <= names
    assert report["outcomes"]["huge_sides_8192"].startswith("too large")
    assert report["outcomes"]["garbage"] == "unreadable"
    assert report["outcomes"]["real_output"] == "trusted"
    assert "traced to" in report["outcomes"]["real_output_reencoded"]
    assert all(any(line.startswith(name + " ") for line in lines) for name in names), "a table row per file"
