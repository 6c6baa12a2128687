"""Reduced runs of the benchmarks, so they cannot rot: each runs `python bench/run.py NAME` as
a person would, on its own data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("DATABASE_URL", "CELERY_BROKER_URL")


def bench_run(name: str, tmp_path: Path, *, embedded: bool = False, timeout: int = 300,
              **settings: str) -> tuple[dict, list[str]]:
    """Run benchmark `name` with these environment settings; its JSON report (the last line)
    and the table printed before it. `embedded` runs it on SQLite and the filesystem broker,
    as `bench/run.py` does by default, whatever database and broker the suite runs on."""
    env = {key: value for key, value in os.environ.items() if not (embedded and key in SERVICES)}
    env.update(BESPOKE_DATA_DIR=str(tmp_path / "data"), **settings)
    done = subprocess.run([sys.executable, "bench/run.py", name], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]), lines[:-1]
