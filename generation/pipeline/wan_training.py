"""DreamBooth-LoRA likeness training for Wan, with peft on the text-to-video transformer's attention.

Each reference photo is a one-frame clip (Wan's VAE encodes a first frame on its own), captioned
with the rare-token instance prompt. The loss is the flow-matching one Wan was trained with: from a
point between the clean latents and noise, predict the velocity (noise minus latents), at noise
levels drawn with the scheduler's own shift. Prior preservation uses one-frame class clips the
base model renders itself. The result is a diffusers-format LoRA file for WanLoraLoaderMixin.

Wan 2.2 A14B denoises with two experts: `transformer` at high noise (sigma at or above the
pipeline's `boundary_ratio`) and `transformer_2` below it. Each expert gets a LoRA of its own,
trained for the requested steps on noise levels of its own range only, and the file holds both
(`transformer.*` and `transformer_2.*` keys; generation.pipeline.adapters loads each into its expert).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np

from generation.pipeline.adapters import WEIGHT_FILE, private_tempdir
from generation.pipeline.training import (
    StepHook,
    TrainedLora,
    TrainingSettings,
    optimizer_step,
)

TRANSFORMER_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TRAINING_ADAPTER = "likeness_training"
CLASS_IMAGE_STEPS = 10
MAX_SEQUENCE_LENGTH = 512  # WanPipeline's default when it renders, so training sees the prompts as renders do


@dataclass(frozen=True)
class Expert:
    """One denoiser of the pipeline and the noise levels (sigmas, `low` <= sigma < `high`) it denoises."""

    name: str  # the pipeline's component, and the prefix of its keys in the LoRA file
    transformer: Any
    low: float
    high: float

    def covers(self, sigma: float) -> bool:
        return self.low <= sigma < self.high or (self.high == 1.0 and sigma == 1.0)


def experts_of(pipe: Any) -> list[Expert]:
    """Wan 2.1 and 2.2 TI2V: one transformer for every noise level; Wan 2.2 A14B: `transformer` from
    `boundary_ratio` up (WanPipeline switches at timestep boundary_ratio * 1000), `transformer_2` below."""
    boundary = pipe.config.get("boundary_ratio")
    if getattr(pipe, "transformer_2", None) is None or boundary is None:
        return [Expert("transformer", pipe.transformer, 0.0, 1.0)]
    return [Expert("transformer", pipe.transformer, float(boundary), 1.0),
            Expert("transformer_2", pipe.transformer_2, 0.0, float(boundary))]


def shifted_sigmas(uniform: Any, *, shift: float, low: float = 0.0, high: float = 1.0) -> Any:
    """Noise levels drawn as the scheduler's shift draws them (sigma = shift*u / (1 + (shift-1)*u)),
    restricted to [low, high) by drawing u only from the part of [0, 1) that maps there."""
    def inverse(sigma: float) -> float:
        return sigma / (shift - (shift - 1.0) * sigma)

    u = inverse(low) + (inverse(high) - inverse(low)) * uniform
    return shift * u / (1.0 + (shift - 1.0) * u)


def _prompt_embeds(pipe: Any, prompt: str) -> Any:
    embeds, _ = pipe.encode_prompt(prompt, do_classifier_free_guidance=False,
                                   max_sequence_length=MAX_SEQUENCE_LENGTH, dtype=pipe.transformer.dtype)
    return embeds


def _square(photo: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if not (isinstance(photo, np.ndarray) and photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3):
        raise ValueError("each reference photo must be an RGB image, a (height, width, 3) uint8 array")
    if photo.shape[:2] == (size, size):
        return photo
    return np.asarray(Image.fromarray(photo).resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)


def _class_images(pipe: Any, settings: TrainingSettings) -> list[np.ndarray]:
    import torch

    generator = torch.Generator("cpu").manual_seed(settings.seed + 1)
    with torch.inference_mode():
        output = pipe(prompt=settings.class_prompt, negative_prompt="", num_videos_per_prompt=settings.num_class_images,
                      num_frames=1, height=settings.resolution, width=settings.resolution,
                      num_inference_steps=CLASS_IMAGE_STEPS, generator=generator, output_type="np")
    return [(np.clip(clip[0], 0, 1) * 255).round().astype(np.uint8) for clip in output.frames]


def train_wan_lora(pipe: Any, photos: list[np.ndarray], settings: TrainingSettings,
                   on_step: StepHook | None = None) -> TrainedLora:
    """Train a likeness LoRA on `pipe` (a loaded WanPipeline) and return it; `pipe` is unchanged afterwards."""
    import torch
    from peft import LoraConfig

    if len(photos) < 1:
        raise ValueError("training needs at least one reference photo")
    if settings.train_text_encoder:
        raise ValueError("Wan likeness training adapts the transformer only, not the UMT5 text encoder")
    multiple = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]
    if settings.resolution < multiple or settings.resolution % multiple:
        raise ValueError(f"the training resolution must be a multiple of {multiple} pixels, not {settings.resolution}")
    images = [_square(photo, settings.resolution) for photo in photos]
    experts = experts_of(pipe)
    transformer, vae = pipe.transformer, pipe.vae
    device, dtype = transformer.device, transformer.dtype
    for module in (*(expert.transformer for expert in experts), vae, pipe.text_encoder):
        module.requires_grad_(False)
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    shift = float(pipe.scheduler.config.get("shift", 1.0))

    def latents_of(frames: list[np.ndarray]) -> Any:
        pixels = torch.from_numpy(np.stack(frames).astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).unsqueeze(2)
        with torch.no_grad():
            latents = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode().float().cpu()
        return ((latents - mean) / std).to(device, dtype)

    instance = latents_of(images)
    classes = latents_of(_class_images(pipe, settings)) if settings.prior_preservation else None
    contexts = {prompt: _prompt_embeds(pipe, prompt) for prompt in (settings.instance_prompt, settings.class_prompt)}

    def velocity_errors(denoiser: Any, latents: Any, sigmas: Any, noise: Any, context: Any) -> Any:
        """Each sample's mean squared velocity error, from one pass of `denoiser` over the batch."""
        sigma = sigmas.view(-1, 1, 1, 1, 1).to(device, dtype)
        noisy = (1.0 - sigma) * latents + sigma * noise
        pred = denoiser(hidden_states=noisy, timestep=(sigmas * 1000.0).to(device, dtype),
                        encoder_hidden_states=context, return_dict=False)[0]
        return ((pred.float() - (noise - latents).float()) ** 2).flatten(1).mean(1)

    def eval_loss() -> float:
        """The velocity error at five noise levels, each denoised by the expert that owns it."""
        generator = torch.Generator("cpu").manual_seed(99)
        context = contexts[settings.instance_prompt].expand(len(instance), -1, -1)
        losses = []
        with torch.no_grad():
            for sigma in (0.1, 0.3, 0.5, 0.7, 0.9):
                denoiser = next(expert.transformer for expert in experts if expert.covers(sigma))
                noise = torch.randn(instance.shape, generator=generator).to(device, dtype)
                losses.append(velocity_errors(denoiser, instance, torch.full((len(instance),), sigma), noise,
                                              context).mean().item())
        return sum(losses) / len(losses)

    torch.manual_seed(settings.seed)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, init_lora_weights="gaussian",
                        target_modules=TRANSFORMER_TARGETS)
    for expert in experts:
        expert.transformer.add_adapter(config, adapter_name=TRAINING_ADAPTER)
    try:
        before = eval_loss()
        losses: list[float] = []
        total = settings.steps * len(experts)
        for number, expert in enumerate(experts):
            _train_expert(expert, settings, instance, classes, contexts, shift, velocity_errors, losses,
                          on_step=None if on_step is None else
                          (lambda step, _, loss, done=number * settings.steps: on_step(done + step, total, loss)))
        after = eval_loss()
        # The probe runs at timestep 500, so on the expert that denoises sigma 0.5.
        probe = transformer_probe(next(expert.transformer for expert in experts if expert.covers(0.5)),
                                  latent_size=instance.shape[-1])
        weights = _lora_file(pipe, experts)
    finally:
        for expert in experts:
            expert.transformer.eval()
            expert.transformer.delete_adapters(TRAINING_ADAPTER)
    return TrainedLora(weights=weights, losses=losses, eval_loss_before=before, eval_loss_after=after, probe=probe)


def _train_expert(expert: Expert, settings: TrainingSettings, instance: Any, classes: Any, contexts: dict[str, Any],
                  shift: float, velocity_errors: Any, losses: list[float], on_step: StepHook | None) -> None:
    """`settings.steps` optimiser steps on `expert`'s LoRA, at noise levels of its own range."""
    import torch

    transformer = expert.transformer
    device, dtype = transformer.device, transformer.dtype
    trainable = [p for p in transformer.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.data = parameter.data.float()
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=1e-2)
    generator = torch.Generator("cpu").manual_seed(settings.seed)
    transformer.train()
    for step in range(1, settings.steps + 1):
        index = torch.randint(0, len(instance), (min(2, len(instance)),), generator=generator)
        batch, prompts = instance[index], [settings.instance_prompt] * len(index)
        if classes is not None:
            class_index = torch.randint(0, len(classes), (len(index),), generator=generator)
            batch = torch.cat([batch, classes[class_index]])
            prompts += [settings.class_prompt] * len(class_index)
        sigmas = shifted_sigmas(torch.rand(len(batch), generator=generator), shift=shift, low=expert.low,
                                high=expert.high)
        noise = torch.randn(batch.shape, generator=generator).to(device, dtype)
        context = torch.cat([contexts[prompt] for prompt in prompts])
        # The instance and the class (prior) samples in one pass; each half weighted as its own loss.
        errors, half = velocity_errors(transformer, batch, sigmas, noise, context), len(index)
        loss = errors[:half].mean()
        if classes is not None:
            loss = loss + settings.prior_loss_weight * errors[half:].mean()
        losses.append(optimizer_step(loss, trainable, optimizer))
        if on_step is not None:
            on_step(step, settings.steps, losses[-1])
    transformer.eval()


def transformer_probe(transformer: Any, *, latent_size: int) -> np.ndarray:
    """The transformer's output on one fixed input: equal probes mean equal weights in effect."""
    import torch

    generator = torch.Generator("cpu").manual_seed(1234)
    config = transformer.config
    sample = torch.randn(1, config.in_channels, 1, latent_size, latent_size, generator=generator)
    context = torch.randn(1, 16, config.text_dim, generator=generator)
    param = next(transformer.parameters())
    with torch.no_grad():
        out = transformer(hidden_states=sample.to(param.device, param.dtype),
                          timestep=torch.tensor([500.0], device=param.device, dtype=param.dtype),
                          encoder_hidden_states=context.to(param.device, param.dtype), return_dict=False)[0]
    return out.float().cpu().numpy()


def _lora_file(pipe: Any, experts: list[Expert]) -> bytes:
    """The trained LoRA of each expert in one diffusers-format file, its keys prefixed by the expert's name."""
    from peft.utils import get_peft_model_state_dict

    layers = {expert.name: get_peft_model_state_dict(expert.transformer, adapter_name=TRAINING_ADAPTER)
              for expert in experts}
    metadata = {expert.name: expert.transformer.peft_config[TRAINING_ADAPTER].to_dict() for expert in experts}
    folder = private_tempdir("bespoke-lora-out-")
    try:
        if len(experts) == 1:
            type(pipe).save_lora_weights(folder, transformer_lora_layers=layers["transformer"],
                                         transformer_lora_adapter_metadata=metadata["transformer"],
                                         weight_name=WEIGHT_FILE)
        else:
            # save_lora_weights names the first expert only; its helper packs any number of prefixes.
            type(pipe)._save_lora_weights(save_directory=folder, lora_layers=layers, lora_metadata=metadata,
                                          weight_name=WEIGHT_FILE)
        return (folder / WEIGHT_FILE).read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
