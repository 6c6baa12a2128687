"""A reduced run of the content-exclusion benchmark (bench/exclusions.py), so it cannot rot:
the development split only, through `python bench/run.py exclusions`; a lexicon edit that
costs recall or adds false refusals there fails the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from consent.content_policy import CATEGORIES

ROOT = Path(__file__).resolve().parents[2]


def test_a_reduced_exclusions_run_reports_each_category_and_meets_the_goal(tmp_path):
    env = {**os.environ, "BESPOKE_DATA_DIR": str(tmp_path / "data"), "BESPOKE_EXCLUSIONS_SPLIT": "dev"}
    done = subprocess.run([sys.executable, "bench/run.py", "exclusions"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    figures = report["dev"]
    assert set(figures) == {*CATEGORIES, "overall"}
    for category in CATEGORIES:
        row = figures[category]
        assert set(row) == {"prompts", "paraphrases", "recall", "para_recall", "fpr"}
        assert row["prompts"] > 0 and row["recall"] >= report["goal"]["recall"], (category, row)
        assert row["fpr"] <= report["goal"]["fpr"], (category, row)
    assert figures["overall"]["harmless"] > 0 and figures["overall"]["fpr"] <= report["goal"]["fpr"]
    assert report["goal_met"] is True
    assert {"de", "en", "es", "fr"} <= set(report["languages"])
    assert any(line.strip().startswith("violence ") for line in lines[:-1]), "the table lists each category"
