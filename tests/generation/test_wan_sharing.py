"""Wan's text-to-video and image-to-video pipelines hold each component whose files are the same
once, and a likeness model renders image-to-video only on a transformer it fits.

Three tiny builds (generation.pipeline.wan_tiny): `separate` (Wan 2.2 A14B's layout, the default),
`shared` (Wan 2.2 TI2V-5B's: one transformer for both) and `wider` (an image-to-video transformer
wider than the text-to-video one, as Wan 2.1 I2V-14B is wider than T2V-1.3B). All three have the
same text-to-video model, so one likeness model trained on it serves them all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audit.models import AuditEvent
from core.errors import ValidationFailed
from generation.models import RenderJob
from generation.pipeline.families import UnsupportedMode, family_for
from generation.pipeline.loading import LoadedModel, pipeline_cache, same_files
from generation.pipeline.rendering import RenderSettings
from generation.pipeline.training import TrainingSettings
from generation.pipeline.wan_tiny import build_tiny_wan
from generation.services import render
from generation.services.continuity import can_start_from_a_frame, starting_point_check
from tests.conftest import SMALL_RENDER

SETTINGS = RenderSettings(prompt="sks person walking on a beach", negative_prompt="blurry", num_frames=5, width=32,
                          height=48, steps=2, guidance_scale=5.0, seed=7)
RNG = np.random.default_rng(3)
FIRST_FRAME = RNG.integers(0, 256, size=(48, 32, 3), dtype=np.uint8)
ALICE_PHOTOS = [RNG.integers(0, 256, size=(40, 40, 3), dtype=np.uint8) for _ in range(2)]
COMMON = ("tokenizer", "text_encoder", "vae")

wan = family_for("wan")


@pytest.fixture(scope="module")
def tiny_builds(tiny_wan_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wan-builds")
    builds = {"separate": tiny_wan_root}
    for build in ("shared", "wider"):
        build_tiny_wan(root / build, image_to_video=build)
        assert same_files(root / build / "t2v", tiny_wan_root / "t2v")
        builds[build] = root / build
    return builds


@pytest.fixture(scope="module")
def alice_lora(tiny_wan_root: Path) -> bytes:
    """Alice's likeness, trained on the tiny text-to-video transformer (the same in every build)."""
    settings = TrainingSettings(instance_prompt="a photo of sks person", class_prompt="a photo of a person", steps=3,
                                rank=4, alpha=4, learning_rate=1e-2, resolution=32, num_class_images=1)
    return wan.train_likeness(wan.tiny_spec(tiny_wan_root), ALICE_PHOTOS, settings).weights


def _on_its_own(root: Path) -> LoadedModel:
    """The tiny model with its image-to-video pipeline loaded from its folder alone, sharing nothing."""
    import torch
    from diffusers import AutoencoderKLWan, WanImageToVideoPipeline

    folder = root / "i2v"
    vae = AutoencoderKLWan.from_pretrained(folder, subfolder="vae", local_files_only=True, dtype=torch.float32)
    image_pipe = WanImageToVideoPipeline.from_pretrained(folder, vae=vae, local_files_only=True)
    image_pipe.set_progress_bar_config(disable=True)
    return LoadedModel(family="wan", pipe=None, image_pipe=image_pipe, device="cpu", model_sha256="")


def _parameters(*modules: Any) -> int:
    unique = {id(parameter): parameter.numel() for module in modules for parameter in module.parameters()}
    return sum(unique.values())


def _held(loaded: LoadedModel) -> int:
    """Parameters held by both pipelines together, each tensor counted once."""
    return _parameters(*(component for pipe in (loaded.pipe, loaded.image_pipe)
                         for component in pipe.components.values() if hasattr(component, "parameters")))


def test_both_pipelines_hold_one_text_encoder_tokenizer_and_vae_and_image_to_video_renders_as_before(tiny_builds):
    loaded = wan.load(wan.tiny_spec(tiny_builds["separate"]))
    for name in COMMON:
        assert getattr(loaded.image_pipe, name) is getattr(loaded.pipe, name), name
    assert loaded.image_pipe.transformer is not loaded.pipe.transformer, "a 36-channel transformer of its own"
    assert loaded.image_pipe.scheduler is not loaded.pipe.scheduler, "each pipeline steps its own scheduler"
    alone = _on_its_own(tiny_builds["separate"])
    assert _held(loaded) == _parameters(*(c for c in loaded.pipe.components.values() if hasattr(c, "parameters")),
                                        loaded.image_pipe.transformer)
    assert _held(loaded) < _parameters(*(c for c in loaded.pipe.components.values() if hasattr(c, "parameters")),
                                       *(c for c in alone.image_pipe.components.values() if hasattr(c, "parameters")))
    assert np.array_equal(wan.render_image_to_video(loaded, SETTINGS, FIRST_FRAME),
                          wan.render_image_to_video(alone, SETTINGS, FIRST_FRAME))


def test_a_ti2v_model_is_loaded_once_for_text_and_image_to_video_and_renders_as_before(tiny_builds):
    loaded = wan.load(wan.tiny_spec(tiny_builds["shared"]))
    for name in (*COMMON, "transformer"):
        assert getattr(loaded.image_pipe, name) is getattr(loaded.pipe, name), name
    assert loaded.image_pipe.config.expand_timesteps
    assert _held(loaded) == _parameters(*(c for c in loaded.pipe.components.values() if hasattr(c, "parameters")))
    alone = _on_its_own(tiny_builds["shared"])
    assert np.array_equal(wan.render_image_to_video(loaded, SETTINGS, FIRST_FRAME),
                          wan.render_image_to_video(alone, SETTINGS, FIRST_FRAME))


@pytest.mark.parametrize("build", ["separate", "shared"])
def test_alices_likeness_renders_image_to_video_on_a_transformer_it_fits(tiny_builds, alice_lora, build):
    spec = wan.tiny_spec(tiny_builds[build])
    loaded = wan.load(spec)
    assert loaded.likeness_fits_image_to_video and wan.likeness_fits_image_to_video(spec)
    base = wan.render_image_to_video(loaded, SETTINGS, FIRST_FRAME)
    with wan.likeness_adapters(loaded, [(alice_lora, 1.0)], image_to_video=True):
        assert not np.array_equal(wan.render_image_to_video(loaded, SETTINGS, FIRST_FRAME), base)
    assert np.array_equal(wan.render_image_to_video(loaded, SETTINGS, FIRST_FRAME), base)
    assert np.array_equal(wan.render_text_to_video(loaded, SETTINGS), wan.render_text_to_video(wan.load(spec), SETTINGS))


def test_a_likeness_that_does_not_fit_the_image_to_video_transformer_is_refused_before_it_is_loaded(
        tiny_builds, alice_lora):
    from generation.pipeline import adapters

    spec = wan.tiny_spec(tiny_builds["wider"])
    loaded = wan.load(spec)
    assert not loaded.likeness_fits_image_to_video and not wan.likeness_fits_image_to_video(spec)
    # What a worker would meet mid-job without the check:
    with pytest.raises(RuntimeError, match="size mismatch"), \
            adapters.likeness_adapters(loaded.image_pipe, [(alice_lora, 1.0)]):
        pass
    with pytest.raises(UnsupportedMode, match="use Wan 2.2 TI2V-5B for both, or an image-to-video model with the "
                                              "same transformer shape"), \
            wan.likeness_adapters(loaded, [(alice_lora, 1.0)], image_to_video=True):
        pass
    assert not getattr(loaded.image_pipe.transformer, "peft_config", None)
    with wan.likeness_adapters(loaded, [(alice_lora, 1.0)]):  # text-to-video takes it as ever
        wan.render_text_to_video(loaded, SETTINGS)
    wan.render_image_to_video(loaded, SETTINGS, FIRST_FRAME)  # and image-to-video without a likeness renders


@pytest.fixture
def wider_deployment(settings, tiny_builds) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    root = tiny_builds["wider"]
    settings.BESPOKE_MODEL_FAMILY = "wan"
    settings.BESPOKE_MODEL_BASE = root / "t2v"
    settings.BESPOKE_MODEL_IMAGE_TO_VIDEO = root / "i2v"
    settings.BESPOKE_DEVICE = "cpu"
    yield root
    pipeline_cache.clear()


@pytest.mark.django_db
@pytest.mark.parametrize("source", ["continue_from", "animate_keyframe"])
def test_bobs_start_from_a_frame_with_a_likeness_that_cannot_render_it_is_refused_at_request_and_creates_nothing(
        personas, active_license, wider_deployment, source):
    keyframe = {"width": 128, "height": 128, "steps": 3, "keyframe": True}
    earlier = render.render_job_request(license_id=str(active_license.id), prompt="sks person walking on a beach",
                                        params=SMALL_RENDER if source == "continue_from" else keyframe,
                                        acting_user=personas.bob)
    earlier = render.render_job_execute(job_id=str(earlier.id), worker="w1")
    assert earlier.status == RenderJob.Status.SUCCEEDED, earlier.outcome_message
    events, jobs = AuditEvent.objects.count(), RenderJob.objects.count()
    with pytest.raises(ValidationFailed) as refusal:
        render.render_job_request(license_id=str(active_license.id), prompt="sks person waving",
                                  params={**SMALL_RENDER, source: str(earlier.output.id)},
                                  likeness_model_id="0b8f3a52-7c1e-4f4e-9d55-2f0a9c1b7e01", acting_user=personas.bob)
    assert (refusal.value.field, refusal.value.code) == (source, "likeness_not_image_to_video")
    assert "Use Wan 2.2 TI2V-5B for both" in refusal.value.message
    assert (AuditEvent.objects.count(), RenderJob.objects.count()) == (events, jobs)
    without_likeness = render.render_job_request(license_id=str(active_license.id), prompt="sks person waving",
                                                 params={**SMALL_RENDER, source: str(earlier.output.id)},
                                                 acting_user=personas.bob)
    assert without_likeness.params[source] == str(earlier.output.id)


@pytest.mark.django_db
def test_on_a_deployment_whose_transformers_fit_a_likeness_may_continue_a_scene(personas, active_license, tiny_wan):
    earlier = render.render_job_request(license_id=str(active_license.id), prompt="sks person walking on a beach",
                                        params=SMALL_RENDER, acting_user=personas.bob)
    earlier = render.render_job_execute(job_id=str(earlier.id), worker="w1")
    starting_point_check(source="continue_from", output_id=str(earlier.output.id),
                         license_id=str(active_license.id), likeness=True)


@pytest.mark.django_db
def test_bobs_scene_continuing_with_a_likeness_that_cannot_render_it_is_refused_and_creates_nothing(
        personas, active_license, wider_deployment):
    from generation.services.scenes import CastMember, scene_render_request

    events, jobs = AuditEvent.objects.count(), RenderJob.objects.count()
    with pytest.raises(ValidationFailed) as refusal:
        scene_render_request(cast=[CastMember("lead", str(active_license.id), likeness_model_id=str(uuid.uuid4()))],
                             prompt="sks person waving", story_id=str(uuid.uuid4()), params=SMALL_RENDER,
                             continue_from=str(uuid.uuid4()), acting_user=personas.bob)
    assert (refusal.value.field, refusal.value.code) == ("continue_from", "likeness_not_image_to_video")
    assert (AuditEvent.objects.count(), RenderJob.objects.count()) == (events, jobs)
    assert can_start_from_a_frame() and not can_start_from_a_frame(likeness=True)
