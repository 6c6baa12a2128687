"""The generator without Django: the tiny model is reproducible and the clips are web-ready MP4."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from generation.pipeline.loading import ModelSpec, model_fingerprint, pipeline_cache
from generation.pipeline.rendering import RenderSettings, render_frames
from generation.pipeline.tiny import build_tiny_model
from generation.pipeline.video import encode_mp4

SETTINGS = RenderSettings(prompt="sks person on a beach", negative_prompt="blurry", num_frames=4, width=64, height=64,
                          steps=3, guidance_scale=7.5, seed=7)


def _spec(root: Path) -> ModelSpec:
    return ModelSpec(base=root / "base", motion_adapter=root / "motion_adapter", device="cpu")


def test_the_tiny_model_is_built_deterministically(tiny_model_root, tmp_path):
    again = tmp_path / "tiny"
    build_tiny_model(again)
    assert model_fingerprint(_spec(again)) == model_fingerprint(_spec(tiny_model_root))


def test_the_same_seed_renders_the_same_frames_and_reports_every_step(tiny_model_root):
    loaded = pipeline_cache.get(_spec(tiny_model_root))
    assert pipeline_cache.get(_spec(tiny_model_root)) is loaded, "one load per process"
    steps: list[tuple[int, int]] = []
    first = render_frames(loaded.pipe, SETTINGS, on_step=lambda done, total: steps.append((done, total)))
    second = render_frames(loaded.pipe, SETTINGS)
    assert first.shape == (4, 64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, second)
    assert steps == [(1, 3), (2, 3), (3, 3)]


def test_an_exception_in_the_step_hook_stops_the_render(tiny_model_root):
    loaded = pipeline_cache.get(_spec(tiny_model_root))

    def stop(done: int, total: int) -> None:
        raise RuntimeError(f"stop at {done}")

    with pytest.raises(RuntimeError, match="stop at 1"):
        render_frames(loaded.pipe, SETTINGS, on_step=stop)


def test_clips_are_h264_yuv420p_with_the_index_first(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, size=(6, 64, 96, 3), dtype=np.uint8)
    path = tmp_path / "clip.mp4"
    encode_mp4(frames, path, fps=6)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height) == (96, 64)
        assert sum(1 for _ in container.decode(video=0)) == 6
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "faststart: the index precedes the media data"


def test_odd_sizes_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="even"):
        encode_mp4(np.zeros((2, 63, 64, 3), dtype=np.uint8), tmp_path / "odd.mp4", fps=2)
