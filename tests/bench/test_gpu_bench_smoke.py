"""A reduced run of the GPU benchmark (bench/gpu.py), so it cannot rot: both families at reduced size
on whatever device there is, through `python bench/run.py gpu`. Shape and sanity only: reduced
models on a shared CPU say nothing of the figures on a GPU."""

from __future__ import annotations

import pytest

from tests.bench import bench_run

FAMILIES = ("animatediff-sd15", "wan")


def test_a_reduced_gpu_benchmark_times_rendering_envelope_compile_swap_and_training_of_each_family(tmp_path):
    report, lines = bench_run("gpu", tmp_path, embedded=True, OMP_NUM_THREADS="1", BESPOKE_BENCH_GPU_SIZE="reduced")

    assert report["size"] == "reduced" and report["device"] in ("cpu", "cuda") and report["device_name"]
    assert report["families"] == list(FAMILIES) and report["envelope_goal"] == 1.02
    for family in FAMILIES:
        def figure(name: str, family: str = family):  # type: ignore[no-untyped-def]
            return report[f"{family}.{name}"]

        plan = report["plans"][family]
        assert figure("clip") == f"{plan['frames']}x{plan['height']}x{plan['width']}, {plan['steps']} steps"
        assert 0 < figure("step_s") < figure("clip_s"), "a clip is several steps, its prompt and its decoding"
        assert figure("bespoke_clip_s") > 0
        assert figure("envelope_ratio") == pytest.approx(figure("bespoke_clip_s") / figure("clip_s"), abs=0.01)
        assert figure("envelope_within_goal") == (figure("envelope_ratio") <= 1.02)
        assert figure("compiled_step_s") > 0 and figure("compile_warmup_s") > 0 and figure("compile_backend") == "eager"
        assert figure("compile_ratio") == pytest.approx(figure("compiled_step_s") / figure("step_s"), rel=0.02)
        assert figure("adapter_swap_s") > 0 and figure("base_reload_s") > 0 and figure("adapter_swap_ratio") > 0
        assert figure("train_steps_per_s") > 0 and figure("train_steps") == plan["train_steps"]
        assert figure("acceleration")["attention"] == "sdpa"
        assert all(count > 0 for count in figure("params_m").values())
        if report["device"] == "cpu":
            assert figure("peak_gpu_gib") is None and figure("train_peak_gpu_gib") is None
            assert not figure("acceleration")["vae_tiling"]
    assert "reduced" in report["wan.text_encoder"], "the stand-in for UMT5-XXL is named"
    assert any(line.startswith("wan.envelope_ratio ") for line in lines), "the table lists each family's figures"
