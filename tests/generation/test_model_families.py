"""Model families: each deployment's model loads, renders and takes a likeness the same way.

Each family's tiny model is built offline once per test run (tests/conftest.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from generation.pipeline.families import UnknownFamily, UnsupportedMode, family_for
from generation.pipeline.loading import pipeline_cache
from generation.pipeline.rendering import RenderSettings, render_frames
from generation.pipeline.training import TrainingSettings

SETTINGS = RenderSettings(prompt="sks person walking on a beach", negative_prompt="blurry", num_frames=6, width=32,
                          height=48, steps=3, guidance_scale=5.0, seed=7)
RNG = np.random.default_rng(0)
FIRST_FRAME = RNG.integers(0, 256, size=(48, 32, 3), dtype=np.uint8)
LAST_FRAME = RNG.integers(0, 256, size=(48, 32, 3), dtype=np.uint8)
ALICE_PHOTOS = [RNG.integers(0, 256, size=(40, 40, 3), dtype=np.uint8) for _ in range(2)]


def _with(**changes: object) -> RenderSettings:
    return RenderSettings(**{**SETTINGS.__dict__, **changes})


@pytest.fixture(scope="module")
def wan_loaded(tiny_wan_root: Path):  # type: ignore[no-untyped-def]
    wan = family_for("wan")
    return pipeline_cache.get(wan.tiny_spec(tiny_wan_root))


@pytest.fixture(scope="module")
def alice_lora(tiny_wan_root: Path, wan_loaded) -> bytes:  # type: ignore[no-untyped-def]
    settings = TrainingSettings(instance_prompt="a photo of sks person", class_prompt="a photo of a person", steps=8,
                                rank=4, alpha=4, learning_rate=1e-2, resolution=32, num_class_images=2)
    wan = family_for("wan")
    trained = wan.train_likeness(wan.tiny_spec(tiny_wan_root), ALICE_PHOTOS, settings)
    assert len(trained.losses) == 8
    return trained.weights


def test_an_unknown_family_is_refused_by_name():
    with pytest.raises(UnknownFamily, match=r"unknown model family 'sora'.*animatediff-sd15, wan"):
        family_for("sora")


def test_the_tiny_wan_model_loads_offline_with_both_pipelines(tiny_wan_root, wan_loaded):
    from diffusers import WanImageToVideoPipeline, WanPipeline

    assert isinstance(wan_loaded.pipe, WanPipeline) and isinstance(wan_loaded.image_pipe, WanImageToVideoPipeline)
    assert wan_loaded.image_pipe.transformer.config.in_channels == 36, "noisy latents, frame mask, encoded frames"
    assert wan_loaded.model_sha256 == family_for("wan").fingerprint(family_for("wan").tiny_spec(tiny_wan_root))


def test_text_to_video_renders_the_requested_clip_the_same_for_a_seed_and_reports_every_step(wan_loaded):
    wan = family_for("wan")
    steps: list[tuple[int, int]] = []
    first = wan.render_text_to_video(wan_loaded, SETTINGS, on_step=lambda done, total: steps.append((done, total)))
    assert first.shape == (6, 48, 32, 3) and first.dtype == np.uint8
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert np.array_equal(first, wan.render_text_to_video(wan_loaded, SETTINGS))
    assert not np.array_equal(first, wan.render_text_to_video(wan_loaded, _with(seed=8)))


def test_an_exception_in_the_step_hook_stops_a_wan_render(wan_loaded):
    def stop(done: int, total: int) -> None:
        raise RuntimeError(f"stop at {done}")

    with pytest.raises(RuntimeError, match="stop at 1"):
        family_for("wan").render_text_to_video(wan_loaded, SETTINGS, on_step=stop)


def test_image_to_video_starts_from_the_first_frame_and_can_end_on_a_last_one(wan_loaded):
    wan = family_for("wan")
    clip = wan.render_image_to_video(wan_loaded, SETTINGS, FIRST_FRAME)
    assert clip.shape == (6, 48, 32, 3) and clip.dtype == np.uint8
    assert np.array_equal(clip, wan.render_image_to_video(wan_loaded, SETTINGS, FIRST_FRAME))
    ending = wan.render_image_to_video(wan_loaded, _with(num_frames=5), FIRST_FRAME, LAST_FRAME)
    assert ending.shape == (5, 48, 32, 3)
    assert not np.array_equal(ending, wan.render_image_to_video(wan_loaded, _with(num_frames=5), FIRST_FRAME))


def test_wan_refuses_sizes_and_frames_it_cannot_render(wan_loaded):
    wan = family_for("wan")
    with pytest.raises(ValueError, match="multiples of 16"):
        wan.render_text_to_video(wan_loaded, _with(width=40))
    with pytest.raises(ValueError, match="4k\\+1 frames"):
        wan.render_image_to_video(wan_loaded, SETTINGS, FIRST_FRAME, LAST_FRAME)
    with pytest.raises(ValueError, match="uint8"):
        wan.render_image_to_video(wan_loaded, SETTINGS, FIRST_FRAME.astype(np.float32))


def test_alices_likeness_lora_changes_the_clip_only_inside_its_block(wan_loaded, alice_lora):
    wan = family_for("wan")
    base = wan.render_text_to_video(wan_loaded, SETTINGS)
    with wan.likeness_adapters(wan_loaded, [(alice_lora, 1.0)]):
        alice = wan.render_text_to_video(wan_loaded, SETTINGS)
    assert not np.array_equal(alice, base)
    assert np.array_equal(wan.render_text_to_video(wan_loaded, SETTINGS), base), "the adapter is removed"

    first_only = wan.render_image_to_video(wan_loaded, SETTINGS, FIRST_FRAME)
    with wan.likeness_adapters(wan_loaded, [(alice_lora, 1.0)], image_to_video=True):
        assert not np.array_equal(wan.render_image_to_video(wan_loaded, SETTINGS, FIRST_FRAME), first_only)
    assert np.array_equal(wan.render_image_to_video(wan_loaded, SETTINGS, FIRST_FRAME), first_only)


def test_the_tiny_wan_model_is_built_deterministically(tiny_wan_root, tmp_path):
    wan = family_for("wan")
    wan.build_tiny(tmp_path / "again")
    assert wan.fingerprint(wan.tiny_spec(tmp_path / "again")) == wan.fingerprint(wan.tiny_spec(tiny_wan_root))


def test_the_identity_follows_the_weight_files_and_the_adapters(tiny_wan_root, wan_loaded, alice_lora, tmp_path):
    wan = family_for("wan")
    copy = tmp_path / "tiny-wan"
    shutil.copytree(tiny_wan_root, copy)
    assert wan.fingerprint(wan.tiny_spec(copy)) == wan_loaded.model_sha256
    weights = copy / "t2v" / "transformer" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert wan.fingerprint(wan.tiny_spec(copy)) != wan_loaded.model_sha256

    identity = wan_loaded.identity([alice_lora])
    assert (identity.family, identity.base_sha256) == ("wan", wan_loaded.model_sha256)
    assert len(identity.adapter_sha256s) == 1 and identity.adapter_sha256s != wan_loaded.identity([b"other"]).adapter_sha256s


def test_animatediff_family_renders_what_the_direct_path_renders(tiny_model_root):
    family = family_for("animatediff-sd15")
    spec = family.tiny_spec(tiny_model_root)
    settings = _with(width=64, height=64, num_frames=4, guidance_scale=7.5)
    direct = render_frames(pipeline_cache.get(spec).pipe, settings)
    loaded = family.load(spec)
    assert loaded.model_sha256 == pipeline_cache.get(spec).model_sha256
    assert np.array_equal(family.render_text_to_video(loaded, settings), direct)
    with pytest.raises(UnsupportedMode, match="image-to-video needs the wan family"):
        family.render_image_to_video(loaded, settings, FIRST_FRAME)
