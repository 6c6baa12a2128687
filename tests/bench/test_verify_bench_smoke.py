"""A reduced run of the hostile-upload benchmark (bench/verify_hostile.py), so it cannot rot:
small variants of every file through `python bench/run.py verify`. Shape only, no timings."""

from __future__ import annotations

from tests.bench import bench_run


def test_a_reduced_verify_run_reports_every_file_and_ends_with_json(tmp_path):
    # The benchmark runs on its own embedded data folder (SQLite), as `bench/run.py` does by
    # default, whatever database the suite itself runs on.
    report, lines = bench_run("verify", tmp_path, embedded=True, timeout=600,
                              OMP_NUM_THREADS="1", BESPOKE_VERIFY_BENCH_SMALL="1")

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
