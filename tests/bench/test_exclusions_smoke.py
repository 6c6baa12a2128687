"""A reduced run of the content-exclusion benchmark (bench/exclusions.py), so it cannot rot:
the development split only, through `python bench/run.py exclusions`; a lexicon edit that
costs recall or adds false refusals there fails the suite."""

from __future__ import annotations

from consent.content_policy import CATEGORIES
from tests.bench import bench_run


def test_a_reduced_exclusions_run_reports_each_category_and_meets_the_goal(tmp_path):
    report, lines = bench_run("exclusions", tmp_path,
                              BESPOKE_EXCLUSIONS_SPLIT="dev")
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
    assert any(line.strip().startswith("violence ") for line in lines), "the table lists each category"
