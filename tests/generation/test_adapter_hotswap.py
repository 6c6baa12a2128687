"""A compiled worker swaps likeness adapters in place (generation.pipeline.adapters), on the tiny models.

With the denoiser compiled, Alice's likeness, then Tomas's, then none, then Alice's again render
without compiling anything after the first, and each renders what a fresh pipeline with only that
likeness (or none) renders; no likeness stays in the worker's memory after its job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bespoke.synthetic_faces import synthetic_face_photos
from generation.pipeline.acceleration import accelerate
from generation.pipeline.adapters import (
    SLOT_RANK,
    AdapterMismatch,
    adapter_slots,
    hotswaps,
    likeness_adapter,
    likeness_adapters,
    slots_rank,
)
from generation.pipeline.families import family_for
from generation.pipeline.loading import (
    ModelSpec,
    load_image_pipeline,
    load_video_pipeline,
)
from generation.pipeline.rendering import RenderSettings, render_frames
from generation.pipeline.training import (
    TrainingSettings,
    decode_png,
    train_dreambooth_lora,
)

SETTINGS = RenderSettings(prompt="a photo of sks person smiling", negative_prompt="", num_frames=2, width=64,
                          height=64, steps=3, guidance_scale=7.5, seed=3)
CLOSE = 2  # of 255: the padded rank sums the same products in another order


@pytest.fixture(autouse=True)
def compiled_code_only() -> Iterator[None]:
    """A block past dynamo's recompile limit would run uncompiled and compile nothing more: fail instead,
    counting from a clean cache (each test compiles a pipeline of its own)."""
    torch._dynamo.reset()
    with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
        yield
    torch._dynamo.reset()


def _spec(root: Path) -> ModelSpec:
    return family_for("animatediff-sd15").tiny_spec(root)


def _photos(seed: int) -> list[np.ndarray]:
    from consent.uploads import prepare_reference_photo

    return [decode_png(prepare_reference_photo(data, filename="a.jpg", resolution=64, max_bytes=10**7,
                                               max_pixels=10**7, min_side=64).png)
            for data in synthetic_face_photos(2, seed=seed)]


@pytest.fixture(scope="module")
def likenesses(tiny_model_root: Path) -> dict[str, bytes]:
    """Alice's likeness (rank 2, with the text encoder) and Tomas's (rank 4, another alpha), as trained."""
    trained = {}
    for name, seed, rank, alpha, text in (("alice", 11, 2, 4.0, True), ("tomas", 23, 4, 2.0, False)):
        pipe = load_image_pipeline(_spec(tiny_model_root), dtype=torch.float32)
        trained[name] = train_dreambooth_lora(pipe, _photos(seed), TrainingSettings(
            instance_prompt="a photo of sks person", class_prompt="a photo of person", steps=8, rank=rank,
            alpha=alpha, learning_rate=5e-3, resolution=64, prior_preservation=False, train_text_encoder=text,
            seed=seed)).weights
    return trained


def _compiled(root: Path) -> Any:
    pipe = load_video_pipeline(_spec(root)).pipe
    accelerate(pipe, device="cpu", compile=True, compile_backend="eager")
    return pipe


def _graphs_compiled(render: Callable[[], np.ndarray]) -> tuple[np.ndarray, int]:
    from torch._dynamo.utils import counters

    before = counters["stats"]["unique_graphs"]
    frames = render()
    return frames, counters["stats"]["unique_graphs"] - before


def _with(pipe: Any, adapters: list[tuple[bytes, float]]) -> Callable[[], np.ndarray]:
    def render() -> np.ndarray:
        with likeness_adapters(pipe, adapters):
            return render_frames(pipe, SETTINGS)
    return render


@pytest.fixture(scope="module")
def fresh(tiny_model_root: Path, likenesses: dict[str, bytes]) -> dict[str, np.ndarray]:
    """What an uncompiled pipeline renders with each likeness alone, both, and none (loaded and deleted)."""
    pipe = load_video_pipeline(_spec(tiny_model_root)).pipe
    assert not hotswaps(pipe)
    return {"base": render_frames(pipe, SETTINGS),
            "alice": _with(pipe, [(likenesses["alice"], 1.0)])(),
            "tomas": _with(pipe, [(likenesses["tomas"], 1.0)])(),
            "tomas_half": _with(pipe, [(likenesses["tomas"], 0.5)])(),
            "both": _with(pipe, [(likenesses["alice"], 1.0), (likenesses["tomas"], 1.0)])()}


def _assert_close(frames: np.ndarray, expected: np.ndarray) -> None:
    assert np.abs(frames.astype(int) - expected.astype(int)).max() <= CLOSE


def test_a_compiled_worker_swaps_likenesses_without_recompiling_and_renders_each_as_a_fresh_pipeline(
        tiny_model_root, likenesses, fresh):
    pipe = _compiled(tiny_model_root)
    alice, tomas = (likenesses["alice"], 1.0), (likenesses["tomas"], 1.0)
    assert hotswaps(pipe)

    first, compiled_first = _graphs_compiled(_with(pipe, [alice]))
    jobs = [("tomas", [tomas]), ("base", []), ("alice", [alice]), ("tomas_half", [(likenesses["tomas"], 0.5)])]
    later = {name: _graphs_compiled(_with(pipe, adapters)) for name, adapters in jobs}

    assert compiled_first > 0, "the first job compiles"
    assert {name: graphs for name, (_, graphs) in later.items()} == dict.fromkeys(later, 0), "no job recompiles"
    _assert_close(first, fresh["alice"])
    for name, (frames, _) in later.items():
        _assert_close(frames, fresh[name])
    assert not np.array_equal(later["tomas"][0], fresh["base"]), "Tomas's likeness changes the frames"
    assert adapter_slots(pipe) == ["likeness_slot_0"] and slots_rank(pipe) == SLOT_RANK


def test_after_a_job_no_likeness_stays_in_the_compiled_worker(tiny_model_root, likenesses, fresh):
    from peft.tuners.lora import LoraLayer

    pipe = _compiled(tiny_model_root)
    with likeness_adapter(pipe, likenesses["alice"], 1.0):
        render_frames(pipe, SETTINGS)

    layers = [module for module in pipe.unet.modules() if isinstance(module, LoraLayer)]
    assert layers and all(not module.lora_B[slot].weight.any() and not module.lora_A[slot].weight.any()
                          for module in layers for slot in adapter_slots(pipe))
    assert not getattr(pipe.text_encoder, "peft_config", None), "the text encoder's part is deleted"
    np.testing.assert_array_equal(render_frames(pipe, SETTINGS), fresh["base"])


def test_a_scene_with_more_likenesses_than_slots_grows_them_once(tiny_model_root, likenesses, fresh):
    pipe = _compiled(tiny_model_root)
    alice, tomas = (likenesses["alice"], 1.0), (likenesses["tomas"], 1.0)
    _with(pipe, [alice])()

    both, compiled_growing = _graphs_compiled(_with(pipe, [alice, tomas]))
    again, compiled_again = _graphs_compiled(_with(pipe, [tomas, alice]))
    alone, compiled_alone = _graphs_compiled(_with(pipe, [tomas]))

    assert compiled_growing > 0 and (compiled_again, compiled_alone) == (0, 0)
    assert adapter_slots(pipe) == ["likeness_slot_0", "likeness_slot_1"]
    _assert_close(both, fresh["both"])
    _assert_close(again, fresh["both"])
    _assert_close(alone, fresh["tomas"])


def test_a_likeness_of_other_layers_is_refused_and_the_worker_renders_on(tiny_model_root, likenesses, fresh):
    from safetensors.torch import load, save

    pipe = _compiled(tiny_model_root)
    _with(pipe, [(likenesses["tomas"], 1.0)])()
    tensors = load(likenesses["tomas"])
    fewer = {key: value for key, value in tensors.items() if ".to_q." not in key}
    elsewhere = {key.replace("attn1.to_k", "ff.net.2"): value for key, value in tensors.items()}

    _assert_close(_with(pipe, [(save(fewer), 1.0)])(), _with(load_video_pipeline(_spec(tiny_model_root)).pipe,
                                                                 [(save(fewer), 1.0)])())
    with pytest.raises(AdapterMismatch, match="adapts layers"):
        _with(pipe, [(save(elsewhere), 1.0)])()

    _assert_close(_with(pipe, [(likenesses["tomas"], 1.0)])(), fresh["tomas"])
    np.testing.assert_array_equal(render_frames(pipe, SETTINGS), fresh["base"])


# --- Wan 2.2 A14B: both experts take the slots ---------------------------------------------------------------

WAN_SETTINGS = RenderSettings(prompt="sks person walking on a beach", negative_prompt="blurry", num_frames=5, width=32,
                              height=48, steps=2, guidance_scale=5.0, seed=7)


@pytest.fixture(scope="module")
def a14b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from generation.pipeline.wan_tiny import build_tiny_wan

    root = tmp_path_factory.mktemp("wan-a14b") / "tiny"
    build_tiny_wan(root, two_experts=True)
    return root


@pytest.fixture(scope="module")
def wan_likenesses(a14b: Path) -> dict[str, bytes]:
    wan = family_for("wan")
    rng = np.random.default_rng(5)
    return {name: wan.train_likeness(wan.tiny_spec(a14b), [rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
                                                           for _ in range(2)],
                                     TrainingSettings(instance_prompt="a photo of sks person",
                                                      class_prompt="a photo of a person", steps=3, rank=rank,
                                                      alpha=4, learning_rate=1e-2, resolution=32, num_class_images=1)
                                     ).weights
            for name, rank in (("alice", 4), ("tomas", 2))}


def test_a_compiled_wan_a14b_swaps_likenesses_in_both_experts_without_recompiling(a14b, wan_likenesses):
    wan = family_for("wan")

    def renders(loaded: Any, jobs: list[tuple[str, list[tuple[bytes, float]]]]) -> dict[str, tuple[np.ndarray, int]]:
        def job(adapters: list[tuple[bytes, float]]) -> Callable[[], np.ndarray]:
            def render() -> np.ndarray:
                with wan.likeness_adapters(loaded, adapters):
                    return wan.render_text_to_video(loaded, WAN_SETTINGS)
            return render
        return {name: _graphs_compiled(job(adapters)) for name, adapters in jobs}

    alice, tomas = (wan_likenesses["alice"], 1.0), (wan_likenesses["tomas"], 1.0)
    jobs = [("alice", [alice]), ("tomas", [tomas]), ("base", []), ("alice_again", [alice])]
    fresh = renders(wan.load(wan.tiny_spec(a14b)), jobs)
    loaded = wan.load(wan.tiny_spec(a14b))
    accelerate(loaded.pipe, device="cpu", compile=True, compile_backend="eager")
    swapped = renders(loaded, jobs)

    assert loaded.pipe.transformer_2 is not None and hotswaps(loaded.pipe)
    assert swapped["alice"][1] > 0 and [graphs for _, graphs in list(swapped.values())[1:]] == [0, 0, 0]
    for name, (frames, _) in swapped.items():
        _assert_close(frames, fresh[name][0])
    assert not np.array_equal(swapped["tomas"][0], swapped["base"][0])
    assert all("likeness_slot_0" in expert.peft_config for expert in (loaded.pipe.transformer, loaded.pipe.transformer_2))
