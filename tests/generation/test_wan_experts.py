"""Wan 2.2 A14B's two experts: a likeness model is trained on each expert at its own noise levels
and, when it renders, reaches both experts (text-to-video and image-to-video).

The tiny build with `two_experts` (generation.pipeline.wan_tiny) has A14B's layout: `transformer`
denoises from the pipeline's `boundary_ratio` up, `transformer_2` below it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generation.pipeline.families import family_for
from generation.pipeline.loading import LoadedModel, pipeline_cache
from generation.pipeline.rendering import RenderSettings
from generation.pipeline.training import TrainedLora, TrainingSettings
from generation.pipeline.wan_tiny import build_tiny_wan
from generation.pipeline.wan_training import experts_of, shifted_sigmas

RNG = np.random.default_rng(5)
ALICE_PHOTOS = [RNG.integers(0, 256, size=(40, 40, 3), dtype=np.uint8) for _ in range(2)]
FIRST_FRAME = RNG.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
SETTINGS = RenderSettings(prompt="a photo of sks person", negative_prompt="", num_frames=1, width=32, height=32,
                          steps=4, guidance_scale=1.0, seed=3)
TRAINING = TrainingSettings(instance_prompt="a photo of sks person", class_prompt="a photo of a person", steps=3,
                            rank=4, alpha=8, learning_rate=1e-2, resolution=32, num_class_images=1)

wan = family_for("wan")


@pytest.fixture(scope="module")
def a14b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wan-a14b") / "tiny"
    build_tiny_wan(root, two_experts=True)
    return root


@pytest.fixture(scope="module")
def a14b_loaded(a14b: Path) -> LoadedModel:
    return pipeline_cache.get(wan.tiny_spec(a14b))


def _timesteps_seen(module: Any, seen: list[float]) -> Any:
    def record(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        seen.extend(float(t) for t in kwargs["timestep"].flatten())
    return module.register_forward_pre_hook(record, with_kwargs=True)


@pytest.fixture(scope="module")
def trained(a14b: Path, a14b_loaded: LoadedModel) -> tuple[TrainedLora, dict[str, list[float]], list[tuple[int, int]]]:
    seen: dict[str, list[float]] = {"transformer": [], "transformer_2": []}
    steps: list[tuple[int, int]] = []
    hooks = [_timesteps_seen(getattr(a14b_loaded.pipe, name), seen[name]) for name in seen]
    try:
        lora = wan.train_likeness(wan.tiny_spec(a14b), ALICE_PHOTOS, TRAINING,
                                  on_step=lambda done, total, _loss: steps.append((done, total)))
    finally:
        for hook in hooks:
            hook.remove()
    return lora, seen, steps


def test_the_experts_split_the_noise_levels_at_the_boundary(a14b_loaded):
    high, low = experts_of(a14b_loaded.pipe)
    assert (high.name, high.low, high.high) == ("transformer", 0.875, 1.0)
    assert (low.name, low.low, low.high) == ("transformer_2", 0.0, 0.875)
    assert [expert.name for expert in experts_of(a14b_loaded.image_pipe)] == ["transformer", "transformer_2"]
    uniform = np.linspace(0.0, 0.999, 1000)
    for expert in (high, low):
        sigmas = shifted_sigmas(uniform, shift=7.0, low=expert.low, high=expert.high)
        assert sigmas.min() >= expert.low and sigmas.max() < expert.high
    assert np.allclose(shifted_sigmas(uniform, shift=7.0), 7.0 * uniform / (1.0 + 6.0 * uniform))


def test_each_expert_is_trained_only_at_its_own_noise_levels(trained):
    lora, seen, steps = trained
    assert steps == [(done, 2 * TRAINING.steps) for done in range(1, 2 * TRAINING.steps + 1)]
    assert len(lora.losses) == 2 * TRAINING.steps
    assert seen["transformer"] and min(seen["transformer"]) >= 875.0
    assert seen["transformer_2"] and max(seen["transformer_2"]) < 875.0


def test_the_likeness_file_holds_a_lora_of_its_own_for_each_expert(trained):
    import torch
    from safetensors.torch import load

    tensors = load(trained[0].weights)
    first = {key.removeprefix("transformer."): value for key, value in tensors.items()
             if key.startswith("transformer.")}
    second = {key.removeprefix("transformer_2."): value for key, value in tensors.items()
              if key.startswith("transformer_2.")}
    assert first and first.keys() == second.keys() and len(tensors) == 2 * len(first)
    assert not all(torch.equal(first[key], second[key]) for key in first)


@pytest.mark.parametrize("image_to_video", [False, True])
def test_alices_likeness_reaches_both_experts_inside_its_block_and_leaves_none_after(a14b_loaded, trained,
                                                                                     image_to_video):
    from safetensors.torch import load

    weights = trained[0].weights
    pipe = a14b_loaded.image_pipe if image_to_video else a14b_loaded.pipe
    assert a14b_loaded.likeness_fits_image_to_video

    def render() -> np.ndarray:
        if image_to_video:
            return wan.render_image_to_video(a14b_loaded, SETTINGS, FIRST_FRAME)
        return wan.render_text_to_video(a14b_loaded, SETTINGS)

    base = render()
    tensors = load(weights)
    key = "blocks.0.attn1.to_q.lora_A"
    with wan.likeness_adapters(a14b_loaded, [(weights, 1.0)], image_to_video=image_to_video):
        for name in ("transformer", "transformer_2"):
            expert = getattr(pipe, name)
            assert list(expert.peft_config) == ["likeness_0"], name
            loaded = dict(expert.named_parameters())[f"{key}.likeness_0.weight"]
            assert np.array_equal(loaded.detach().numpy(), tensors[f"{name}.{key}.weight"].numpy()), name
        assert not np.array_equal(render(), base)
    assert not any(getattr(getattr(pipe, name), "peft_config", None) for name in ("transformer", "transformer_2"))
    assert np.array_equal(render(), base)
