"""A reduced run of the signing benchmark (bench/signing.py), so it cannot rot: a 20 KB and a
3 MB clip through `python bench/run.py signing`. Shape and correctness only, no timing goal:
the reduced clips are too small, and the machine too shared, for the ratio to mean much."""

from __future__ import annotations

import pytest

from tests.bench import bench_run


def test_a_reduced_signing_run_reports_raw_and_bespoke_times_and_ends_with_json(tmp_path):
    report, lines = bench_run("signing", tmp_path, embedded=True,
                              OMP_NUM_THREADS="1", BESPOKE_SIGNING_BENCH_SMALL="1")

    assert report["goal_ratio"] == 1.10 and isinstance(report["within_goal"], bool)
    for case in ("20KB", "3MB"):
        figures = report[case]
        assert figures["raw_seconds"] > 0 and figures["bespoke_seconds"] > 0 and figures["reread_seconds"] > 0
        assert figures["bespoke_ratio"] == pytest.approx(figures["bespoke_seconds"] / figures["raw_seconds"], abs=0.01)
        assert any(line.startswith(case + " ") for line in lines), "a table row per clip"
    assert 10_000 < report["20KB"]["bytes"] < 40_000
    assert 2_000_000 < report["3MB"]["bytes"] < 5_000_000
