"""A reduced run of the consent gate benchmark (bench/gate.py), so it cannot rot: a couple of
thousand licenses on a throwaway database of the suite's server, through
`python bench/run.py gate`. Shape, and that a check costs the same queries at any size."""

from __future__ import annotations

from tests.bench import bench_run

KINDS = ("allowed", "refused", "locked", "publish")


def test_a_reduced_gate_benchmark_times_each_check_counts_its_queries_and_ends_with_json(tmp_path):
    report, lines = bench_run("gate", tmp_path, BESPOKE_BENCH_GATE_LICENSES="2000", BESPOKE_BENCH_GATE_CHECKS="50")
    assert report["licenses_small"] > 1000 and report["licenses_full"] > 2000
    for kind in KINDS:
        assert 0 < report[f"{kind}_p50_ms"] <= report[f"{kind}_p99_ms"]
        assert report[f"{kind}_queries_small"] > 0
        assert report[f"{kind}_queries_full"] == report[f"{kind}_queries_small"], kind
    assert report["queries_grow"] is False
    assert report["worst_p99_ms"] == max(report[f"{kind}_p99_ms"] for kind in KINDS)
    assert any(line.startswith("allowed_p99_ms") for line in lines), "the table lists the percentiles"
