"""The generator at its real size on the current device: `python bench/run.py gpu`.

Each model family is built with random weights from its real configuration, offline (nothing is
downloaded; random weights render noise as fast as trained ones render pictures):

    animatediff-sd15  SD 1.5 from the shipped config folder (generation/pipeline/configs/sd15, the
                      configs of runwayml/stable-diffusion-v1-5: UNet 320/640/1280/1280 with cross
                      attention of 768, the CLIP ViT-L/14 text encoder and its real tokenizer, the SD
                      AutoencoderKL, DDIM) and the AnimateDiff motion adapter v1-5-2; 16 frames, 512x512
    wan               Wan 2.1 T2V 1.3B (30 layers, 12 heads of 128, ffn 8960, text dim 4096), its
                      AutoencoderKLWan (kept in float32, as the wan family loads it), the UMT5-XXL text
                      encoder (5.7B parameters) with Bespoke's offline T5 tokenizer, UniPC with flow
                      sigmas (shift 3.0, for 480p); 33 frames, 480x832

and measured on the device (cuda when there is one, else the CPU), with the dtype and the GPU
options a worker uses (loading.resolve_device, acceleration.accelerate):

    step_s, clip_s          one denoising step (the median, classifier-free guidance included) and
                            one whole clip (prompt to decoded frames), bare pipeline call
    peak_gpu_gib            torch.cuda.max_memory_allocated while rendering (null on the CPU)
    envelope_ratio          the clip through Bespoke's render path (the job's per-step checkpoint with
                            its consent gate checks, visible label, watermark, MP4 encoding, C2PA signing
                            and verification) against the bare call; goal <= ENVELOPE_GOAL
    compile_ratio           a step with the denoiser compiled (acceleration.accelerate) against eager;
                            compile_warmup_s is the first compiled clip, compilation included
    adapter_swap_ratio      loading and deleting a likeness LoRA (adapters.likeness_adapters) against
                            reloading the denoiser from a local safetensors folder onto the device
    train_steps_per_s       Bespoke's DreamBooth-LoRA loop (training.py, wan_training.py)

Settings (environment):
    BESPOKE_BENCH_GPU_SIZE      full | reduced. Default: full on CUDA, reduced on the CPU, where every
                                model keeps its architecture with fewer and narrower layers (and a
                                2-layer UMT5 of the reduced text width for UMT5-XXL), on 128x128 clips
                                of few steps, compiled with torch.compile's "eager" backend (tracing
                                only: inductor's code generation alone takes minutes on a CPU), so that
                                the whole run takes a minute or two on two cores. Reduced figures keep
                                the benchmark from rotting; they say nothing of a GPU.
    BESPOKE_BENCH_GPU_FAMILIES  comma-separated, default both
"""

from __future__ import annotations

import functools
import gc
import hashlib
import itertools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

BOOTSTRAP = True  # the envelope runs the real job checkpoint, consent gate and signing: a database and a CA
FAMILIES = ("animatediff-sd15", "wan")
ENVELOPE_GOAL = 1.02
PROMPT = "a photo of sks person walking through a rainy street at night"
SIZES = ("full", "reduced")

# guoyww/animatediff-motion-adapter-v1-5-2, config.json
MOTION_ADAPTER = {"block_out_channels": [320, 640, 1280, 1280], "motion_layers_per_block": 2,
                  "motion_mid_block_layers_per_block": 1, "motion_num_attention_heads": 8,
                  "motion_norm_num_groups": 32, "motion_max_seq_length": 32, "use_motion_mid_block": True}
# Wan-AI/Wan2.1-T2V-1.3B-Diffusers, transformer/config.json
WAN_TRANSFORMER = {"patch_size": [1, 2, 2], "num_attention_heads": 12, "attention_head_dim": 128, "in_channels": 16,
                   "out_channels": 16, "text_dim": 4096, "freq_dim": 256, "ffn_dim": 8960, "num_layers": 30,
                   "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "image_dim": None,
                   "added_kv_proj_dim": None, "rope_max_seq_len": 1024}
# Wan-AI/Wan2.1-T2V-1.3B-Diffusers, vae/config.json: AutoencoderKLWan's defaults (base dim 96, z dim 16,
# multipliers 1/2/4/4, 2 residual blocks, temporal downsampling in the last two stages)
WAN_VAE: dict[str, Any] = {}
# google/umt5-xxl, config.json (Wan uses its encoder)
UMT5_XXL = {"vocab_size": 256384, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
            "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
            "feed_forward_proj": "gated-gelu", "layer_norm_epsilon": 1e-6, "tie_word_embeddings": False,
            "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}
# Wan-AI/Wan2.1-T2V-1.3B-Diffusers, scheduler/scheduler_config.json (flow shift 3.0 for 480p)
WAN_SCHEDULER = {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": 3.0,
                 "num_train_timesteps": 1000}

# What the reduced size changes in each configuration: the same architectures, fewer and narrower layers.
REDUCED = {
    "unet": {"block_out_channels": [32, 64, 64, 64], "layers_per_block": 1, "cross_attention_dim": 64},
    "motion_adapter": {"block_out_channels": [32, 64, 64, 64], "motion_layers_per_block": 1,
                       "motion_num_attention_heads": 2},
    "clip": {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2, "num_hidden_layers": 2,
             "projection_dim": 64},
    "sd_vae": {"block_out_channels": [32, 32, 64, 64], "layers_per_block": 1},
    "wan_transformer": {"num_attention_heads": 2, "attention_head_dim": 32, "ffn_dim": 128, "num_layers": 2,
                        "text_dim": 64},
    "wan_vae": {"base_dim": 16, "num_res_blocks": 1},
    "umt5": {"d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2, "num_heads": 4},
}


@dataclass(frozen=True)
class Plan:
    """What one family renders and trains at one size."""

    frames: int
    height: int
    width: int
    steps: int
    guidance_scale: float
    train_steps: int
    train_resolution: int
    num_class_images: int
    runs: int  # of each side of a comparison; the fastest counts
    warmup_steps: int
    compile_backend: str = "inductor"

    def clip(self) -> str:
        return f"{self.frames}x{self.height}x{self.width}, {self.steps} steps"


PLANS = {
    ("animatediff-sd15", "full"): Plan(frames=16, height=512, width=512, steps=25, guidance_scale=7.5,
                                       train_steps=20, train_resolution=512, num_class_images=2, runs=3,
                                       warmup_steps=2),
    ("wan", "full"): Plan(frames=33, height=480, width=832, steps=30, guidance_scale=5.0, train_steps=20,
                          train_resolution=480, num_class_images=2, runs=3, warmup_steps=2),
    # 128 pixels a side: the smallest frame the invisible watermark goes into (provenance.watermark.MIN_SIDE)
    ("animatediff-sd15", "reduced"): Plan(frames=8, height=128, width=128, steps=3, guidance_scale=7.5,
                                          train_steps=3, train_resolution=64, num_class_images=1, runs=1,
                                          warmup_steps=1, compile_backend="eager"),
    ("wan", "reduced"): Plan(frames=5, height=128, width=128, steps=3, guidance_scale=5.0, train_steps=3,
                             train_resolution=64, num_class_images=1, runs=1, warmup_steps=1, compile_backend="eager"),
}


@dataclass
class Built:
    """A family's model at the benchmark's size, ready to render, with what building it measured."""

    pipe: Any
    reload_folder: Path  # the denoiser as saved before any adapter touched it, for the reload timing
    lora: bytes  # a likeness LoRA from the training loop, for the adapter swap
    figures: dict[str, Any]


# --- small helpers -----------------------------------------------------------------------

def _progress(started: float, message: str) -> None:
    """A line on stderr as each phase ends: a full-size run takes minutes."""
    print(f"[{time.perf_counter() - started:8.1f} s] {message}", file=sys.stderr, flush=True)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _peak_gib(device: str) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if device == "cuda" else None


def _reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def _millions(module: Any) -> float:
    return round(sum(p.numel() for p in module.parameters()) / 1e6, 1)


def _config(full: dict[str, Any], part: str, size: str) -> dict[str, Any]:
    return {**full, **(REDUCED[part] if size == "reduced" else {})}


def _setting(name: str, default: str, choices: tuple[str, ...]) -> list[str]:
    raw = os.environ.get(f"BESPOKE_BENCH_GPU_{name}", default)
    values = [value.strip() for value in raw.split(",") if value.strip()]
    unknown = [value for value in values if value not in choices]
    if unknown or not values:
        raise SystemExit(f"BESPOKE_BENCH_GPU_{name}={raw!r}: choose from {', '.join(choices)}")
    return values


@contextmanager
def _workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bespoke-gpu-bench-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _photos(resolution: int) -> list[np.ndarray]:
    """Two reference photos as the training job decodes them."""
    from bespoke.synthetic_faces import synthetic_face_photos
    from consent.uploads import prepare_reference_photo
    from generation.pipeline.training import decode_png

    return [decode_png(prepare_reference_photo(data, filename="p.jpg", resolution=resolution, max_bytes=10**7,
                                               max_pixels=10**7, min_side=64).png)
            for data in synthetic_face_photos(2)]


def _training_settings(plan: Plan) -> Any:
    from generation.params import training_params_parse
    from generation.pipeline.training import TrainingSettings
    from generation.services.training import INSTANCE_TOKEN

    params = training_params_parse({"steps": plan.train_steps, "num_class_images": plan.num_class_images})
    return TrainingSettings(
        instance_prompt=f"a photo of {INSTANCE_TOKEN} {params.class_noun}",
        class_prompt=f"a photo of {params.class_noun}",
        steps=params.steps, rank=params.rank, alpha=params.alpha, learning_rate=params.learning_rate,
        resolution=plan.train_resolution, prior_preservation=params.prior_preservation,
        num_class_images=params.num_class_images, train_text_encoder=False, seed=params.seed)


def _train(train: Callable[..., Any], device: str, plan: Plan) -> tuple[bytes, dict[str, Any]]:
    """Run a training loop with a step hook that notes the time of each step; the LoRA and its figures."""
    stamps: list[float] = []
    _reset_peak(device)
    started = time.perf_counter()
    trained = train(_photos(plan.train_resolution), _training_settings(plan),
                    on_step=lambda *_: stamps.append(time.perf_counter()))
    total = time.perf_counter() - started
    per_s = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else plan.train_steps / total
    return trained.weights, {"train_steps": plan.train_steps, "train_resolution": plan.train_resolution,
                             "train_steps_per_s": round(per_s, 4), "train_total_s": round(total, 3),
                             "train_peak_gpu_gib": _peak_gib(device)}


def _save_denoiser(denoiser: Any, folder: Path) -> Path:
    denoiser.save_pretrained(folder / "denoiser", safe_serialization=True)
    return folder / "denoiser"


# --- building each family at size -------------------------------------------------------

def _build_animatediff(size: str, device: str, dtype: torch.dtype, plan: Plan, folder: Path) -> Built:
    from diffusers import (
        AnimateDiffPipeline,
        AutoencoderKL,
        DDIMScheduler,
        MotionAdapter,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from generation.pipeline.single_file import sd15_config_folder
    from generation.pipeline.training import train_dreambooth_lora

    configs = sd15_config_folder(folder / "sd15")  # the shipped SD 1.5 configs and the real CLIP tokenizer
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the device: minutes saved at full size
        unet = UNet2DConditionModel.from_config(_config(dict(UNet2DConditionModel.load_config(configs / "unet")),
                                                        "unet", size))
        vae = AutoencoderKL.from_config(_config(dict(AutoencoderKL.load_config(configs / "vae")), "sd_vae", size))
        text_encoder = CLIPTextModel(CLIPTextConfig.from_pretrained(
            configs / "text_encoder", **(REDUCED["clip"] if size == "reduced" else {})))
        adapter = MotionAdapter(**_config(MOTION_ADAPTER, "motion_adapter", size))
        image_pipe = StableDiffusionPipeline(
            vae=vae, text_encoder=text_encoder, unet=unet,
            scheduler=DDIMScheduler.from_pretrained(configs / "scheduler"),
            tokenizer=CLIPTokenizer.from_pretrained(configs / "tokenizer", local_files_only=True),
            safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False)
        pipe = AnimateDiffPipeline.from_pipe(image_pipe, motion_adapter=adapter)
    for each in (image_pipe, pipe):
        each.set_progress_bar_config(disable=True)
    figures = {"params_m": {"unet": _millions(unet), "motion_adapter": _millions(adapter),
                            "text_encoder": _millions(text_encoder), "vae": _millions(vae)},
               "text_encoder": "CLIP ViT-L/14" + (" (reduced)" if size == "reduced" else "")}
    # Training first, in float32 on the image model alone, as the family trains (the video pipeline
    # shares its text encoder and VAE, cast to the render dtype after).
    lora, trained = _train(functools.partial(train_dreambooth_lora, image_pipe), device, plan)
    del image_pipe, unet
    pipe.to(device, dtype)
    return Built(pipe=pipe, reload_folder=_save_denoiser(pipe.unet, folder), lora=lora, figures={**figures, **trained})


def _build_wan(size: str, device: str, dtype: torch.dtype, plan: Plan, folder: Path) -> Built:
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

    from generation.pipeline.wan_tiny import build_tokenizer
    from generation.pipeline.wan_training import train_wan_lora

    build_tokenizer(folder / "tokenizer")
    torch.manual_seed(0)
    with torch.device(device):
        transformer = WanTransformer3DModel(**_config(WAN_TRANSFORMER, "wan_transformer", size)).to(dtype)
        text_encoder = UMT5EncoderModel(UMT5Config(**_config(UMT5_XXL, "umt5", size))).to(dtype)
        vae = AutoencoderKLWan(**_config(WAN_VAE, "wan_vae", size))  # float32, as the wan family keeps it
    pipe = WanPipeline(tokenizer=AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True),
                       text_encoder=text_encoder, vae=vae, transformer=transformer,
                       scheduler=UniPCMultistepScheduler(**WAN_SCHEDULER))
    pipe.set_progress_bar_config(disable=True)
    reload_folder = _save_denoiser(transformer, folder)  # before training wraps its attention for LoRA
    text = "UMT5-XXL (google/umt5-xxl)" if size == "full" else \
        "UMT5, {num_layers} layers of {d_model} (reduced from UMT5-XXL)".format(**REDUCED["umt5"])
    figures = {"params_m": {"transformer": _millions(transformer), "text_encoder": _millions(text_encoder),
                            "vae": _millions(vae)}, "text_encoder": text}
    lora, trained = _train(lambda *a, **k: train_wan_lora(pipe, *a, **k), device, plan)
    return Built(pipe=pipe, reload_folder=reload_folder, lora=lora, figures={**figures, **trained})


BUILDERS = {"animatediff-sd15": _build_animatediff, "wan": _build_wan}


# --- timing ------------------------------------------------------------------------------

def _bare_clip(pipe: Any, plan: Plan, device: str, *, steps: int | None = None,
               step_stamps: list[float] | None = None) -> float:
    """One clip through the bare pipeline call; `step_stamps` collects the end of each step (synchronised)."""

    def stamp(_pipe: Any, _step: int, _timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        _sync(device)
        step_stamps.append(time.perf_counter())
        return callback_kwargs

    started = time.perf_counter()
    pipe(prompt=PROMPT, num_frames=plan.frames, height=plan.height, width=plan.width,
         num_inference_steps=steps or plan.steps, guidance_scale=plan.guidance_scale,
         generator=torch.Generator("cpu").manual_seed(0), output_type="np",
         callback_on_step_end=stamp if step_stamps is not None else None)
    _sync(device)
    return time.perf_counter() - started


def _step_s(pipe: Any, plan: Plan, device: str) -> float:
    """The median time of a denoising step after the first."""
    stamps: list[float] = []
    _bare_clip(pipe, plan, device, step_stamps=stamps)
    return statistics.median(b - a for a, b in itertools.pairwise(stamps))


@dataclass(frozen=True)
class BenchJob:
    """A claimed render job whose checkpoint is Bespoke's per-step hook."""

    job_id: str
    attempt: int

    def on_step(self, done: int, total: int) -> None:
        from django.conf import settings

        from generation.services.render import render_job_checkpoint

        every = settings.BESPOKE_GATE_CHECK_EVERY_STEPS
        render_job_checkpoint(job_id=self.job_id, attempt=self.attempt, step=done, total=total,
                              check_consent=done % every == 0 or done == total)


def _claimed_job(license_id: str, producer: Any) -> BenchJob:
    from generation.services.render import render_job_claim, render_job_request

    requested = render_job_request(license_id=license_id, prompt=PROMPT, acting_user=producer)
    job = render_job_claim(job_id=str(requested.id), worker="bench-gpu")
    assert job is not None, "the benchmark's render job could not be claimed"
    return BenchJob(job_id=str(job.id), attempt=job.attempt)


def _bespoke_clip(family_name: str, loaded: Any, plan: Plan, job: BenchJob, license_id: str, folder: Path, *,
                  steps: int | None = None) -> float:
    """The clip as Bespoke renders it: the family's render with the job's checkpoint every step, then
    the visible label, the watermark, the MP4 and the signed, verified C2PA manifest."""
    from generation.params import RenderParams
    from generation.pipeline.families import family_for
    from generation.pipeline.rendering import RenderSettings
    from generation.pipeline.video import encode_mp4
    from generation.services.render import watermark_id_new
    from provenance import services as provenance

    fps = RenderParams().fps
    render_settings = RenderSettings(prompt=PROMPT, negative_prompt="", num_frames=plan.frames, width=plan.width,
                                     height=plan.height, steps=steps or plan.steps,
                                     guidance_scale=plan.guidance_scale, seed=0)
    started = time.perf_counter()
    frames = family_for(family_name).render_text_to_video(loaded, render_settings, on_step=job.on_step)
    labelled, label = provenance.disclosure_apply(frames)
    watermark_id = watermark_id_new()
    marked, binding = provenance.watermark_apply(labelled, watermark_id=watermark_id, fps=fps)
    unsigned = folder / "unsigned.mp4"
    encode_mp4(marked, unsigned, fps=fps)
    output_id = str(uuid.uuid4())
    provenance.output_sign(src=unsigned, dst=folder / f"{output_id}.mp4", output_id=output_id, license_id=license_id,
                           model_sha256=loaded.model_sha256, likeness_model_sha256=None, label=label,
                           watermark_binding=binding)
    elapsed = time.perf_counter() - started
    for made in folder.glob("*.mp4"):
        made.unlink()
    return elapsed


def _adapter_swap_s(pipe: Any, lora: bytes, device: str, runs: int) -> float:
    from generation.pipeline import adapters

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with adapters.likeness_adapters(pipe, [(lora, 1.0)]):
            _sync(device)
        _sync(device)
        times.append(time.perf_counter() - started)
    return min(times)


def _base_reload_s(denoiser_class: type, folder: Path, device: str, dtype: torch.dtype, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        reloaded = denoiser_class.from_pretrained(folder, dtype=dtype).to(device)
        _sync(device)
        times.append(time.perf_counter() - started)
        del reloaded
    return min(times)


def _measure(family_name: str, size: str, device: str, dtype: torch.dtype, license_id: str,
             producer: Any) -> dict[str, Any]:
    from generation.pipeline.acceleration import accelerate, denoiser_of
    from generation.pipeline.loading import LoadedModel

    plan = PLANS[(family_name, size)]
    began = time.perf_counter()
    with _workdir() as folder:
        built = BUILDERS[family_name](size, device, dtype, plan, folder)
        _progress(began, f"{family_name}: built and trained")
        pipe = built.pipe
        acceleration = accelerate(pipe, device=device)  # as the worker's load applies it
        model_sha256 = hashlib.sha256(json.dumps([family_name, size, built.figures["params_m"]]).encode()).hexdigest()
        loaded = LoadedModel(family=family_name, pipe=pipe, device=device, model_sha256=model_sha256)
        job = _claimed_job(license_id, producer)

        _reset_peak(device)
        _bare_clip(pipe, plan, device, steps=plan.warmup_steps)
        _bespoke_clip(family_name, loaded, plan, job, license_id, folder, steps=plan.warmup_steps)
        step_s = _step_s(pipe, plan, device)
        bare, bespoke = [], []
        for _ in range(plan.runs):
            bare.append(_bare_clip(pipe, plan, device))
            bespoke.append(_bespoke_clip(family_name, loaded, plan, job, license_id, folder))
        peak = _peak_gib(device)
        _progress(began, f"{family_name}: rendered, bare and through Bespoke")

        denoiser = denoiser_of(pipe)
        reload_s = _base_reload_s(type(denoiser), built.reload_folder, device, denoiser.dtype, plan.runs + 1)
        swap_s = _adapter_swap_s(pipe, built.lora, device, plan.runs + 1)
        _progress(began, f"{family_name}: reloaded and swapped adapters")

        started = time.perf_counter()
        accelerate(pipe, device=device, compile=True, compile_backend=plan.compile_backend)
        _bare_clip(pipe, plan, device, steps=plan.warmup_steps)
        compile_warmup_s = time.perf_counter() - started
        _progress(began, f"{family_name}: compiled")
        compiled_step_s = _step_s(pipe, plan, device)
        _job_cancel(job, producer)
    return {
        "clip": plan.clip(),
        **built.figures,
        "acceleration": acceleration.as_dict(),
        "step_s": round(step_s, 5),
        "clip_s": round(min(bare), 3),
        "peak_gpu_gib": peak,
        "bespoke_clip_s": round(min(bespoke), 3),
        "envelope_ratio": round(min(bespoke) / min(bare), 3),
        "envelope_within_goal": min(bespoke) / min(bare) <= ENVELOPE_GOAL,
        "compile_backend": plan.compile_backend,
        "compile_warmup_s": round(compile_warmup_s, 3),
        "compiled_step_s": round(compiled_step_s, 5),
        "compile_ratio": round(compiled_step_s / step_s, 3),
        "adapter_swap_s": round(swap_s, 4),
        "base_reload_s": round(reload_s, 4),
        "adapter_swap_ratio": round(swap_s / reload_s, 3),
    }


def _job_cancel(job: BenchJob, producer: Any) -> None:
    from generation.models import RenderJob
    from generation.services.render import render_job_cancel

    render_job_cancel(job=RenderJob.objects.get(pk=job.job_id), acting_user=producer)


def _release(device: str) -> None:
    torch._dynamo.reset()
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def run() -> dict[str, Any]:
    import diffusers
    from diffusers.utils import logging as diffusers_logging

    from bench.generation import bench_license
    from generation.pipeline.loading import resolve_device

    diffusers_logging.disable_progress_bar()
    device, dtype = resolve_device("auto")
    size = _setting("SIZE", "full" if device == "cuda" else "reduced", SIZES)[0]
    families = _setting("FAMILIES", ",".join(FAMILIES), FAMILIES)
    license, producer = bench_license()
    results: dict[str, Any] = {
        "device": device,
        "device_name": torch.cuda.get_device_name() if device == "cuda" else (platform.processor() or "cpu"),
        "torch_threads": torch.get_num_threads(), "dtype": str(dtype).removeprefix("torch."), "size": size,
        "torch": torch.__version__, "diffusers": diffusers.__version__, "families": families,
        "envelope_goal": ENVELOPE_GOAL,
    }
    for family_name in families:
        figures = _measure(family_name, size, device, dtype, str(license.id), producer)
        results.update({f"{family_name}.{name}": value for name, value in figures.items()})
        _release(device)
    results["plans"] = {family_name: asdict(PLANS[(family_name, size)]) for family_name in families}
    return results
