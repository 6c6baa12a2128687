"""A reduced run of the interactive story benchmark (bench/story.py), so it cannot rot: one real
worker, Harbour Lights played twice with tiny scenes and a short watching time, through
`python bench/run.py story`. Shape only: no timings, no goals."""

from __future__ import annotations

import pytest

from tests.bench import bench_run

PATH_SCENES = 6
CHOICES_TAKEN = 5  # three choice points and two places where the story goes on


def test_a_reduced_story_run_reports_waits_scenes_and_the_cut_and_ends_with_json(tmp_path):
    # The benchmark runs on its own embedded data folder (SQLite, filesystem broker), as `bench/run.py`
    # does by default, whatever database and broker the suite itself runs on. At 4 fps the shortest
    # scene has 4 frames: a 2-frame clip is encoded without frame reordering, and the cut does not
    # join a clip with reordering after it (provenance.cut: decoding timestamps would overlap).
    report, lines = bench_run("story", tmp_path, embedded=True, timeout=600,
                              BESPOKE_BENCH_STORY_STEPS="1", BESPOKE_BENCH_STORY_FPS="4",
                              BESPOKE_BENCH_STORY_WATCH_SCALE="0.05")

    assert report["scene_params"] == "128x128, 1 steps, 4 fps" and report["watch_scale"] == 0.05
    assert report["path"].split(" > ") == ["harbour_dawn", "pier_talk", "cliff_path", "window_climb", "lamp_room",
                                           "ending_dark"]
    assert report["choices_taken"] == CHOICES_TAKEN
    for name in ("setup_s", "worker_ready_s", "warm_up_scene_s", "render_s_mean", "first_frame_s_prefetch",
                 "first_frame_s_no_prefetch", "wait_s_mean_prefetch", "wait_s_mean_no_prefetch", "cut_s",
                 "cut_bare_remux_s", "cut_join_only_s", "start_call_s_prefetch", "start_call_s_no_prefetch",
                 "choose_call_s_mean_prefetch", "choose_call_s_mean_no_prefetch"):
        assert report[name] > 0, name
    with_prefetch, without = report["wait_s_prefetch"], report["wait_s_no_prefetch"]
    assert len(with_prefetch) == len(without) == CHOICES_TAKEN
    assert all(wait > 0 for wait in with_prefetch + without)
    assert report["wait_s_mean_prefetch"] == pytest.approx(sum(with_prefetch) / CHOICES_TAKEN, abs=0.002)
    assert report["wait_s_mean_no_prefetch"] == pytest.approx(sum(without) / CHOICES_TAKEN, abs=0.002)
    assert report["wait_ratio_prefetch_to_no_prefetch"] == pytest.approx(
        report["wait_s_mean_prefetch"] / report["wait_s_mean_no_prefetch"], rel=0.02, abs=0.005)
    assert report["wait_fraction_of_render_prefetch"] == pytest.approx(
        report["wait_s_mean_prefetch"] / report["render_s_mean"], rel=0.02, abs=0.005)
    assert report["cut_total_ratio"] == pytest.approx(report["cut_s"] / report["cut_bare_remux_s"], rel=0.05, abs=0.05)
    assert report["cut_join_ratio"] == pytest.approx(report["cut_join_only_s"] / report["cut_bare_remux_s"],
                                                     rel=0.05, abs=0.05)

    # Without prefetch exactly the path is rendered; with it, the path and what was rendered ahead.
    assert (report["scenes_rendered_no_prefetch"], report["scenes_wasted_no_prefetch"]) == (PATH_SCENES, 0)
    assert PATH_SCENES <= report["scenes_rendered_prefetch"] <= report["scenes_requested_prefetch"]
    assert 0 <= report["scenes_wasted_prefetch"] <= report["scenes_rendered_prefetch"] - PATH_SCENES
    assert report["scenes_timed"] >= 2 * PATH_SCENES
    assert (report["wasted_render_s_prefetch"] > 0) == (report["scenes_wasted_prefetch"] > 0)

    assert (report["goal_wait_fraction"], report["goal_cut_ratio"]) == (0.1, 1.2)
    assert isinstance(report["goal_wait_met"], bool) and isinstance(report["goal_cut_met"], bool)
    assert all(any(line.startswith(name + " ") for line in lines) for name in report), "a table row per figure"
