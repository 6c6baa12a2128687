"""A reduced run of the generation benchmark (bench/generation.py), so it cannot rot: on both model
families' tiny builds, a two-step likeness training and a small two-step clip through Bespoke against
the direct diffusers/peft code, through `python bench/run.py generation`. Shape only: no timing goal,
the reduced jobs are too short for Bespoke's fixed costs to be a fair share."""

from __future__ import annotations

import pytest

from tests.bench import bench_run

FAMILIES = ("animatediff-sd15", "wan")


def test_a_reduced_generation_run_compares_both_families_with_the_bare_libraries_and_ends_with_json(tmp_path):
    report, lines = bench_run("generation", tmp_path, embedded=True, timeout=900, OMP_NUM_THREADS="1",
                              BESPOKE_BENCH_GENERATION_TRAIN_STEPS="2", BESPOKE_BENCH_GENERATION_RUNS="1",
                              BESPOKE_BENCH_GENERATION_FRAMES="4", BESPOKE_BENCH_GENERATION_SIZE="128",
                              BESPOKE_BENCH_GENERATION_STEPS="2", BESPOKE_BENCH_GENERATION_MIN_RENDER_SECONDS="0")

    assert report["families"] == list(FAMILIES) and report["train_steps"] == 2
    for family in FAMILIES:
        for side in ("train_direct_s", "train_bespoke_s", "render_bare_s", "render_bespoke_s"):
            assert report[f"{family}.{side}"] > 0, (family, side)
        assert report[f"{family}.train_ratio"] == pytest.approx(
            report[f"{family}.train_bespoke_s"] / report[f"{family}.train_direct_s"], rel=0.01)
        assert report[f"{family}.render_ratio"] == pytest.approx(
            report[f"{family}.render_bespoke_s"] / report[f"{family}.render_bare_s"], rel=0.01)
    assert report["animatediff-sd15.render_clip"] == "4x128x128, 2 steps (4 frames rendered)"
    assert report["wan.render_clip"] == "4x128x128, 2 steps (5 frames rendered)"  # Wan renders 4k+1 frames
    assert report["train_ratio"] == max(report[f"{family}.train_ratio"] for family in FAMILIES)
    assert report["render_ratio"] == max(report[f"{family}.render_ratio"] for family in FAMILIES)
    assert report["goal_ratio"] == 1.10 and isinstance(report["goal_met"], bool)
    assert all(any(line.startswith(name + " ") for line in lines) for name in report), "a table row per figure"
