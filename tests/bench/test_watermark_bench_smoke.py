"""A reduced run of the watermark benchmark (bench/watermark.py), so it cannot rot: two
synthetic clips, one tiny-model clip, four marked and 40 unmarked stills through `python bench/run.py
watermark`. Every attack is reported; the published file reads back, nothing unmarked
reads as marked, the mark stays above 40 dB and the flat-gradient screenshot is saved."""

from __future__ import annotations

from pathlib import Path

from bench.watermark_content import ATTACKS, GOAL_ATTACKS, STILL_ATTACKS
from tests.bench import bench_run


def test_a_reduced_watermark_run_reports_every_attack_and_no_false_positive(tmp_path):
    out = tmp_path / "out"
    report, lines = bench_run("watermark", tmp_path, embedded=True, timeout=600, OMP_NUM_THREADS="1",
                              BESPOKE_BENCH_WATERMARK_CLIPS="2", BESPOKE_BENCH_WATERMARK_FRAMES="30",
                              BESPOKE_BENCH_WATERMARK_GENERATED="1", BESPOKE_BENCH_WATERMARK_STILLS="40",
                              BESPOKE_BENCH_WATERMARK_MARKED_STILLS="4",
                              BESPOKE_BENCH_WATERMARK_OUT=str(out))

    assert report["algorithms"] == ["com.bespoke.watermark.tile-ss.1", "com.bespoke.watermark.dct-stdm.1"]
    assert report["still_algorithm"] == "com.bespoke.watermark.tile-ss.1"
    assert set(report["version_2_alone_clip_recovery"]) == set(report["version_1_alone_recovery"]) == set(ATTACKS)
    assert set(report["still_recovery"]) == set(report["still_recovery_both_layers"]) == set(STILL_ATTACKS)
    assert report["stills"] == 4 and report["still_recovery"]["png"] > 0
    assert set(report["recovery"]) == set(report["bit_accuracy"]) == set(ATTACKS)
    assert set(report["goals_met"]) == set(GOAL_ATTACKS)
    assert report["recovery"]["none"] == 1.0 and report["generated_recovery"]["none"] == 1.0
    assert report["false_positives"] == 0 and report["false_positive_stills"] == 40
    assert report["psnr_db_min"] >= 40.0
    for gradient in (report["flat_gradient"], report["flat_gradient"]["still"]):
        assert gradient["psnr_db"] >= 48.0 and Path(gradient["screenshot"]).is_file()
    assert Path(report["flat_gradient"]["screenshot"]).parent == out
    assert all(value > 0 for value in report["timing_512"].values())
    assert any(line.strip().startswith("crop_off") for line in lines), "a table row per attack"
