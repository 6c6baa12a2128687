"""Bespoke's overhead on the generator, on the tiny build of each model family.

For each family (animatediff-sd15, then wan):

(a) Training: a likeness-model job through Bespoke (claim, decrypt the sealed photos,
    train with progress and consent checks, save, seal, register) against the same
    DreamBooth-LoRA loop written directly against diffusers and peft: on the SD 1.5 UNet
    (the pipeline loaded inside the timing, as the job loads it), or on the Wan
    transformer's attention with the flow-matching loss (the pipeline loaded beforehand, as
    a worker has it loaded when a job arrives).
(b) Rendering: a render job through Bespoke (gate checks, progress, label, watermark,
    encode, C2PA signing and verification, publication, audit) against the bare pipeline
    call with the same prompt, seed, steps, size and frames rendered, at a clip size where
    the bare call takes at least BESPOKE_BENCH_GENERATION_MIN_RENDER_SECONDS (2 s).

Each side runs several times, alternating, and the fastest run of each is compared. The family
`bootstrap` made (BESPOKE_MODEL_FAMILY) runs on the configured model; the other on its tiny build,
made here if missing.

Settings (environment), for a reduced run: BESPOKE_BENCH_GENERATION_FAMILIES (comma-separated,
default both), _TRAIN_STEPS (150), _RUNS (3), _FRAMES (16), _SIZE (256), _STEPS (12),
_MIN_RENDER_SECONDS (2.0).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test.utils import override_settings
from django.utils import timezone

FAMILIES = ("animatediff-sd15", "wan")
GOAL_RATIO = 1.10
MAX_RENDER_STEPS = 100  # RenderParams' bound
PROMPT = "sks person walking through a rainy street at night"
INSTANCE_PROMPT, CLASS_PROMPT = "a photo of sks person", "a photo of person"
CLASS_IMAGE_STEPS = 10
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def _setting(name: str, default: str, cast: type) -> Any:
    raw = os.environ.get(f"BESPOKE_BENCH_GENERATION_{name}", default)
    try:
        value = cast(raw)
    except ValueError:
        raise SystemExit(f"BESPOKE_BENCH_GENERATION_{name}={raw!r} is not a {cast.__name__}") from None
    if value < 0 or (cast is int and value < 1):
        raise SystemExit(f"BESPOKE_BENCH_GENERATION_{name} must be positive, not {raw!r}")
    return value


def _families() -> list[str]:
    raw = os.environ.get("BESPOKE_BENCH_GENERATION_FAMILIES", ",".join(FAMILIES))
    names = [name.strip() for name in raw.split(",")]
    unknown = [name for name in names if name not in FAMILIES]
    if unknown or not names:
        raise SystemExit(f"BESPOKE_BENCH_GENERATION_FAMILIES: unknown {', '.join(unknown)}; "
                         f"the families are {', '.join(FAMILIES)}")
    return names


def _direct_step(loss: Any, trainable: list[Any], optimizer: Any) -> None:
    """One optimiser step of a direct training loop, as diffusers' DreamBooth-LoRA script takes it."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def bench_license() -> Any:
    """Alice verified, licensed to Northlight for 100 renders with a likeness model, and four reference
    photos: what a generation benchmark renders and trains under; and Bob, who asks."""
    from bespoke.synthetic_faces import synthetic_face_photos
    from consent import desk, services
    from consent.models import IdentityVerification, Organization, Talent

    users = {u.username: u for u in get_user_model().objects.filter(
        username__in=["alice", "bob", "dana", "erin", "frank", "grace"])}
    talent = Talent.objects.get(user=users["alice"])
    if not talent.verifications.filter(status=IdentityVerification.Status.APPROVED).exists():
        verification = desk.identity_verification_request(talent=talent, method="in_person", acting_user=users["alice"])
        desk.identity_verification_decide(verification=verification, approve=True, acting_user=users["frank"],
                                          legal_name="Alice Avery", birth_date=date(1994, 5, 17))
        desk.identity_verification_decide(verification=verification, approve=True, acting_user=users["grace"])
    today = timezone.localdate()
    license = services.license_draft(
        talent=talent, licensee=Organization.objects.get(name="Northlight Studios"), acting_user=users["erin"],
        project="Benchmark", role="Lead", use_description="Benchmark: lead role in a short film, walking and close-ups.",
        permitted_media=["video"], territories=["worldwide"], languages=["en"], starts_on=today,
        ends_on=today + timedelta(days=30), max_renders=1000, excluded_categories=[], allows_likeness_model=True,
        compensation_basis="flat", compensation_rate="0", compensation_currency="EUR")
    services.license_offer(license=license, acting_user=users["erin"])
    context = services.SignatureContext(text_sha256_seen=license.text_sha256, disclosure_accepted=True,
                                        authentication_method="benchmark")
    services.license_sign(license=license, context=context, acting_user=users["alice"])
    services.license_countersign(license=license, context=context, acting_user=users["dana"])
    if talent.photos.count() < 4:
        for data in synthetic_face_photos(4):
            services.reference_photo_add(talent=talent, data=data, filename="p.jpg", acting_user=users["alice"])
    return license, users["bob"]


@contextmanager
def _family(name: str) -> Iterator[None]:
    """Settings for a deployment on `name`: as configured for the configured family, else its tiny build
    (made here if missing)."""
    if name == settings.BESPOKE_MODEL_FAMILY:
        yield
        return
    from generation.pipeline.families import family_for
    from generation.pipeline.tiny import tiny_model_present
    from generation.pipeline.wan_tiny import tiny_wan_present

    family = family_for(name)
    root = Path(settings.DATA_DIR) / "models" / ("tiny-wan" if name == "wan" else "tiny")
    if not (tiny_wan_present(root) if name == "wan" else tiny_model_present(root)):
        family.build_tiny(root)
    spec = family.tiny_spec(root)
    with override_settings(BESPOKE_MODEL_FAMILY=name, BESPOKE_MODEL_BASE=spec.base,
                           BESPOKE_MOTION_ADAPTER=getattr(spec, "motion_adapter", settings.BESPOKE_MOTION_ADAPTER),
                           BESPOKE_MODEL_IMAGE_TO_VIDEO=getattr(spec, "image_to_video", None)):
        yield


# --- (a) training ----------------------------------------------------------------------

def _direct_sd15_training(photos: list[np.ndarray], params: Any) -> float:
    """The DreamBooth-LoRA loop written directly against diffusers and peft, on the SD 1.5 UNet."""
    import torch.nn.functional as F
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    started = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(settings.BESPOKE_MODEL_BASE, local_files_only=True,
                                                   safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    unet, vae, text_encoder, tokenizer = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer
    scheduler = pipe.scheduler.__class__.from_config(pipe.scheduler.config)
    for module in (unet, vae, text_encoder):
        module.requires_grad_(False)
    classes = pipe(prompt=[CLASS_PROMPT] * params.num_class_images, height=settings.BESPOKE_TRAINING_RESOLUTION,
                   width=settings.BESPOKE_TRAINING_RESOLUTION, num_inference_steps=CLASS_IMAGE_STEPS,
                   generator=torch.Generator("cpu").manual_seed(1), output_type="np").images

    def latents(images: Any) -> Any:
        pixels = torch.from_numpy(np.stack(images).astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)
        with torch.no_grad():
            return vae.encode(pixels).latent_dist.sample() * vae.config.scaling_factor

    def encode(prompt: str) -> Any:
        ids = tokenizer(prompt, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        return text_encoder(ids)[0]

    instance = latents(photos)
    prior = latents([(np.clip(c, 0, 1) * 255).round().astype(np.uint8) for c in classes])
    unet.add_adapter(LoraConfig(r=params.rank, lora_alpha=params.alpha, init_lora_weights="gaussian",
                                target_modules=LORA_TARGETS))
    trainable = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=1e-2)
    generator = torch.Generator("cpu").manual_seed(0)
    for _ in range(params.steps):
        index = torch.randint(0, len(instance), (2,), generator=generator)
        class_index = torch.randint(0, len(prior), (2,), generator=generator)
        batch = torch.cat([instance[index], prior[class_index]])
        noise = torch.randn(batch.shape, generator=generator)
        timesteps = torch.randint(0, 1000, (4,), generator=generator)
        context = torch.cat([encode(p) for p in [INSTANCE_PROMPT] * 2 + [CLASS_PROMPT] * 2])
        pred, pred_prior = unet(scheduler.add_noise(batch, noise, timesteps), timesteps, context).sample.chunk(2)
        target, target_prior = noise.chunk(2)
        _direct_step(F.mse_loss(pred, target) + F.mse_loss(pred_prior, target_prior), trainable, optimizer)
    folder = tempfile.mkdtemp()
    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=convert_state_dict_to_diffusers(
        get_peft_model_state_dict(unet)), unet_lora_adapter_metadata=unet.peft_config["default"].to_dict())
    shutil.rmtree(folder)
    return time.perf_counter() - started


def _wan_pipeline() -> Any:
    """A WanPipeline of the configured text-to-video folder, loaded as diffusers' documentation loads it."""
    from diffusers import AutoencoderKLWan, WanPipeline

    vae = AutoencoderKLWan.from_pretrained(settings.BESPOKE_MODEL_BASE, subfolder="vae", local_files_only=True,
                                           dtype=torch.float32)
    pipe = WanPipeline.from_pretrained(settings.BESPOKE_MODEL_BASE, vae=vae, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _direct_wan_training(pipe: Any, photos: list[np.ndarray], params: Any) -> float:
    """The DreamBooth-LoRA loop written directly against diffusers and peft, on the Wan transformer's
    attention: one-frame clips, flow-matching (velocity) loss at shifted noise levels, prior preservation."""
    import torch.nn.functional as F
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    started = time.perf_counter()
    transformer, vae = pipe.transformer, pipe.vae
    for module in (transformer, vae, pipe.text_encoder):
        module.requires_grad_(False)
    with torch.no_grad():
        side = settings.BESPOKE_TRAINING_RESOLUTION
        classes = pipe(prompt=CLASS_PROMPT, negative_prompt="", num_videos_per_prompt=params.num_class_images,
                       num_frames=1, height=side, width=side, num_inference_steps=CLASS_IMAGE_STEPS,
                       generator=torch.Generator("cpu").manual_seed(1), output_type="np").frames
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)

    def latents(images: Any) -> Any:
        pixels = torch.from_numpy(np.stack(images).astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).unsqueeze(2)
        with torch.no_grad():
            return (vae.encode(pixels).latent_dist.mode() - mean) / std

    with torch.no_grad():
        context = {prompt: pipe.encode_prompt(prompt, do_classifier_free_guidance=False, max_sequence_length=512)[0]
                   for prompt in (INSTANCE_PROMPT, CLASS_PROMPT)}
    instance = latents(photos)
    prior = latents([(np.clip(clip[0], 0, 1) * 255).round().astype(np.uint8) for clip in classes])
    shift = float(pipe.scheduler.config.get("shift", 1.0))
    transformer.add_adapter(LoraConfig(r=params.rank, lora_alpha=params.alpha, init_lora_weights="gaussian",
                                       target_modules=LORA_TARGETS))
    trainable = [p for p in transformer.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=1e-2)
    generator = torch.Generator("cpu").manual_seed(0)
    contexts = torch.cat([context[INSTANCE_PROMPT]] * 2 + [context[CLASS_PROMPT]] * 2)
    for _ in range(params.steps):
        index = torch.randint(0, len(instance), (2,), generator=generator)
        class_index = torch.randint(0, len(prior), (2,), generator=generator)
        batch = torch.cat([instance[index], prior[class_index]])
        noise = torch.randn(batch.shape, generator=generator)
        uniform = torch.rand(len(batch), generator=generator)
        sigmas = shift * uniform / (1.0 + (shift - 1.0) * uniform)
        sigma = sigmas.view(-1, 1, 1, 1, 1)
        pred = transformer(hidden_states=(1.0 - sigma) * batch + sigma * noise, timestep=sigmas * 1000.0,
                           encoder_hidden_states=contexts, return_dict=False)[0]
        pred, pred_prior = pred.chunk(2)
        target, target_prior = (noise - batch).chunk(2)
        _direct_step(F.mse_loss(pred, target) + F.mse_loss(pred_prior, target_prior), trainable, optimizer)
    folder = tempfile.mkdtemp()
    type(pipe).save_lora_weights(folder, transformer_lora_layers=get_peft_model_state_dict(transformer),
                                 transformer_lora_adapter_metadata=transformer.peft_config["default"].to_dict())
    shutil.rmtree(folder)
    transformer.delete_adapters("default")
    return time.perf_counter() - started


def _bespoke_training(license: Any, producer: Any, params: dict) -> float:
    from generation.services.training import training_job_execute, training_job_request

    started = time.perf_counter()
    job = training_job_request(license_id=str(license.id), params=params, acting_user=producer)
    job = training_job_execute(job_id=str(job.id), worker="bench")
    assert job.status == "succeeded", job.outcome_message
    return time.perf_counter() - started


# --- (b) rendering ---------------------------------------------------------------------

def _frames_rendered(pipe: Any, num_frames: int, family: str) -> int:
    """What the family renders for a request of `num_frames`: Wan the next 4k+1 (it drops the rest)."""
    if family != "wan":
        return num_frames
    temporal = pipe.vae_scale_factor_temporal
    return (num_frames - 1 + temporal - 1) // temporal * temporal + 1


def _bare_render(pipe: Any, params: Any, family: str) -> float:
    started = time.perf_counter()
    with torch.inference_mode():
        pipe(prompt=PROMPT, num_frames=_frames_rendered(pipe, params.num_frames, family), height=params.height,
             width=params.width, num_inference_steps=params.steps, guidance_scale=params.guidance_scale,
             generator=torch.Generator("cpu").manual_seed(params.seed), output_type="np")
    return time.perf_counter() - started


def _bespoke_render(license: Any, producer: Any, params: dict) -> float:
    from generation.services.render import render_job_execute, render_job_request

    started = time.perf_counter()
    job = render_job_request(license_id=str(license.id), prompt=PROMPT, params=params, acting_user=producer)
    job = render_job_execute(job_id=str(job.id), worker="bench")
    assert job.status == "succeeded", job.outcome_message
    return time.perf_counter() - started


def _measure(family: str, license: Any, producer: Any, photos: list[np.ndarray], *, train_steps: int, runs: int,
             clip: dict[str, int], min_render_seconds: float) -> dict[str, Any]:
    from generation.params import render_params_parse, training_params_parse
    from generation.pipeline.loading import pipeline_cache
    from generation.services.render import model_spec

    loaded = pipeline_cache.get(model_spec())  # a worker loads its model before the first job arrives
    train_params = {"steps": train_steps, "num_class_images": 4}
    parsed_training = training_params_parse(train_params)
    direct_pipe = _wan_pipeline() if family == "wan" else None
    direct_train, bespoke_train = [], []
    for _ in range(2):
        if direct_pipe is not None:
            direct_train.append(_direct_wan_training(direct_pipe, photos, parsed_training))
        else:
            direct_train.append(_direct_sd15_training(photos, parsed_training))
        bespoke_train.append(_bespoke_training(license, producer, train_params))
    del direct_pipe

    pipe = loaded.pipe
    render_params = dict(clip)
    parsed = render_params_parse(render_params)
    _bare_render(pipe, parsed, family)  # warm-up
    while _bare_render(pipe, parsed, family) < min_render_seconds and render_params["steps"] < MAX_RENDER_STEPS:
        render_params["steps"] = min(render_params["steps"] + 8, MAX_RENDER_STEPS)
        parsed = render_params_parse(render_params)
    _bespoke_render(license, producer, render_params)  # warm-up
    bare, bespoke = [], []
    for _ in range(runs):
        bare.append(_bare_render(pipe, parsed, family))
        bespoke.append(_bespoke_render(license, producer, render_params))
    return {
        "device": loaded.device,
        "train_direct_s": round(min(direct_train), 3),
        "train_bespoke_s": round(min(bespoke_train), 3),
        "train_ratio": round(min(bespoke_train) / min(direct_train), 3),
        "render_clip": f"{parsed.num_frames}x{parsed.width}x{parsed.height}, {parsed.steps} steps "
                       f"({_frames_rendered(pipe, parsed.num_frames, family)} frames rendered)",
        "render_bare_s": round(min(bare), 3),
        "render_bespoke_s": round(min(bespoke), 3),
        "render_ratio": round(min(bespoke) / min(bare), 3),
    }


def run() -> dict[str, Any]:
    from diffusers.utils import logging as diffusers_logging

    from bespoke.synthetic_faces import synthetic_face_photos
    from consent.uploads import prepare_reference_photo
    from generation.pipeline.loading import pipeline_cache
    from generation.pipeline.training import decode_png

    diffusers_logging.disable_progress_bar()
    families = _families()
    train_steps = _setting("TRAIN_STEPS", "150", int)
    runs = _setting("RUNS", "3", int)
    size = _setting("SIZE", "256", int)
    clip = {"num_frames": _setting("FRAMES", "16", int), "width": size, "height": size,
            "steps": _setting("STEPS", "12", int)}
    min_render_seconds = _setting("MIN_RENDER_SECONDS", "2.0", float)
    license, producer = bench_license()
    photos = [decode_png(prepare_reference_photo(d, filename="p.jpg", resolution=settings.BESPOKE_TRAINING_RESOLUTION,
                                                 max_bytes=10**7, max_pixels=10**7, min_side=64).png)
              for d in synthetic_face_photos(4)]
    results: dict[str, Any] = {"device": "", "torch_threads": torch.get_num_threads(), "train_steps": train_steps,
                               "families": families}
    for family in families:
        with _family(family):
            figures = _measure(family, license, producer, photos, train_steps=train_steps, runs=runs, clip=clip,
                               min_render_seconds=min_render_seconds)
        results["device"] = figures.pop("device")
        results.update({f"{family}.{name}": value for name, value in figures.items()})
    pipeline_cache.clear()
    results["train_ratio"] = max(results[f"{family}.train_ratio"] for family in families)
    results["render_ratio"] = max(results[f"{family}.render_ratio"] for family in families)
    results["goal_ratio"] = GOAL_RATIO
    results["goal_met"] = results["train_ratio"] <= GOAL_RATIO and results["render_ratio"] <= GOAL_RATIO
    return results
