"""Bespoke's overhead on the generator, on the tiny model.

(a) Training: a likeness-model job through Bespoke (claim, decrypt the sealed photos,
    train with progress and consent checks, save, seal, register) against the same
    DreamBooth-LoRA loop written directly against diffusers and peft.
(b) Rendering: a render job through Bespoke (gate checks, progress, label, encode, C2PA
    signing and verification, publication, audit) against the bare pipeline call with
    the same seed and steps, at a clip size where the bare call takes at least 2 s.

Each side runs several times, alternating, and the fastest run of each is compared.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import date, timedelta
from typing import Any

import numpy as np
import torch
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

TRAIN_STEPS = 150
RUNS = 3


def _license() -> Any:
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
        ends_on=today + timedelta(days=30), max_renders=100, excluded_categories=[], allows_likeness_model=True,
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


# --- (a) training ----------------------------------------------------------------------

def _direct_training(photos: list[np.ndarray], params: Any) -> float:
    """The DreamBooth-LoRA loop written directly against diffusers and peft."""
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
    instance_prompt, class_prompt = "a photo of sks person", "a photo of person"
    classes = pipe(prompt=[class_prompt] * params.num_class_images, height=64, width=64, num_inference_steps=10,
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
                                target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    trainable = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=1e-2)
    generator = torch.Generator("cpu").manual_seed(0)
    for _ in range(params.steps):
        index = torch.randint(0, len(instance), (2,), generator=generator)
        class_index = torch.randint(0, len(prior), (2,), generator=generator)
        batch = torch.cat([instance[index], prior[class_index]])
        noise = torch.randn(batch.shape, generator=generator)
        timesteps = torch.randint(0, 1000, (4,), generator=generator)
        context = torch.cat([encode(p) for p in [instance_prompt] * 2 + [class_prompt] * 2])
        pred, pred_prior = unet(scheduler.add_noise(batch, noise, timesteps), timesteps, context).sample.chunk(2)
        target, target_prior = noise.chunk(2)
        loss = F.mse_loss(pred, target) + F.mse_loss(pred_prior, target_prior)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    folder = tempfile.mkdtemp()
    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=convert_state_dict_to_diffusers(
        get_peft_model_state_dict(unet)), unet_lora_adapter_metadata=unet.peft_config["default"].to_dict())
    shutil.rmtree(folder)
    return time.perf_counter() - started


def _bespoke_training(license: Any, producer: Any, params: dict) -> float:
    from generation.services.training import training_job_execute, training_job_request

    started = time.perf_counter()
    job = training_job_request(license_id=str(license.id), params=params, acting_user=producer)
    job = training_job_execute(job_id=str(job.id), worker="bench")
    assert job.status == "succeeded", job.outcome_message
    return time.perf_counter() - started


# --- (b) rendering ---------------------------------------------------------------------

def _bare_render(pipe: Any, params: Any, prompt: str) -> float:
    started = time.perf_counter()
    pipe(prompt=prompt, num_frames=params.num_frames, height=params.height, width=params.width,
         num_inference_steps=params.steps, guidance_scale=params.guidance_scale,
         generator=torch.Generator("cpu").manual_seed(params.seed), output_type="np")
    return time.perf_counter() - started


def _bespoke_render(license: Any, producer: Any, params: dict, prompt: str) -> float:
    from generation.services.render import render_job_execute, render_job_request

    started = time.perf_counter()
    job = render_job_request(license_id=str(license.id), prompt=prompt, params=params, acting_user=producer)
    job = render_job_execute(job_id=str(job.id), worker="bench")
    assert job.status == "succeeded", job.outcome_message
    return time.perf_counter() - started


def run() -> dict[str, Any]:
    from consent.uploads import prepare_reference_photo
    from bespoke.synthetic_faces import synthetic_face_photos
    from generation.params import render_params_parse, training_params_parse
    from generation.pipeline.loading import pipeline_cache
    from generation.pipeline.training import decode_png
    from generation.services.render import model_spec

    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    license, producer = _license()
    train_params = {"steps": TRAIN_STEPS, "num_class_images": 4}
    photos = [decode_png(prepare_reference_photo(d, filename="p.jpg", resolution=64, max_bytes=10**7, max_pixels=10**7,
                                                 min_side=64).png) for d in synthetic_face_photos(4)]
    direct_train, bespoke_train = [], []
    for _ in range(2):
        direct_train.append(_direct_training(photos, training_params_parse(train_params)))
        bespoke_train.append(_bespoke_training(license, producer, train_params))

    prompt = "sks person walking through a rainy street at night"
    pipe = pipeline_cache.get(model_spec()).pipe
    render_params = {"num_frames": 16, "width": 256, "height": 256, "steps": 12}  # the default clip size
    parsed = render_params_parse(render_params)
    _bare_render(pipe, parsed, prompt)  # warm-up
    while _bare_render(pipe, parsed, prompt) < 2.0:
        render_params["steps"] += 8
        parsed = render_params_parse(render_params)
    _bespoke_render(license, producer, render_params, prompt)  # warm-up
    bare, bespoke = [], []
    for _ in range(RUNS):
        bare.append(_bare_render(pipe, parsed, prompt))
        bespoke.append(_bespoke_render(license, producer, render_params, prompt))
    return {
        "device": str(pipe.device),
        "torch_threads": torch.get_num_threads(),
        "train_steps": TRAIN_STEPS,
        "train_direct_s": round(min(direct_train), 3),
        "train_bespoke_s": round(min(bespoke_train), 3),
        "train_ratio": round(min(bespoke_train) / min(direct_train), 3),
        "render_clip": f"{parsed.num_frames}x{parsed.width}x{parsed.height}, {parsed.steps} steps",
        "render_bare_s": round(min(bare), 3),
        "render_bespoke_s": round(min(bespoke), 3),
        "render_ratio": round(min(bespoke) / min(bare), 3),
    }
