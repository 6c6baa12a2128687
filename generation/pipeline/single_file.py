"""Single-file checkpoints in the original LDM (A1111) layout, and the config folders that load them.

A single `.safetensors` file holds the UNet under `model.diffusion_model.`, the VAE under
`first_stage_model.` and the CLIP text encoder under `cond_stage_model.transformer.text_model.`.
It carries no configs or tokenizer, so it is loaded together with a diffusers-format folder
holding only the JSON and txt files of the same architecture.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generation.pipeline.clip_tokenizer import write_clip_tokenizer

if TYPE_CHECKING:
    import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer.text_model."
CONFIG_SUFFIXES = (".json", ".txt")
SD15_CONFIG = Path(__file__).parent / "configs" / "sd15"

# A rule renames the keys under a diffusers prefix: (diffusers prefix, LDM prefix, renames of what follows).
Rule = tuple[str, str, Mapping[str, str]]

UNET_RESNET = {"norm1.": "in_layers.0.", "conv1.": "in_layers.2.", "time_emb_proj.": "emb_layers.1.",
               "norm2.": "out_layers.0.", "conv2.": "out_layers.3.", "conv_shortcut.": "skip_connection."}
VAE_RESNET = {"conv_shortcut.": "nin_shortcut."}
VAE_ATTENTION = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}
NONE: Mapping[str, str] = {}


def unet_rules(config: Mapping[str, Any]) -> list[Rule]:
    """Renames for an SD-style `UNet2DConditionModel` with its config's blocks and layers per block.

    LDM numbers the UNet's layers flatly: each down block takes `layers` slots in `input_blocks`
    plus one for its downsampler, and each up block takes `layers + 1` slots in `output_blocks`.
    """
    layers = int(config["layers_per_block"])
    down_types, up_types = config["down_block_types"], config["up_block_types"]
    rules: list[Rule] = [
        ("time_embedding.linear_1.", "time_embed.0.", NONE), ("time_embedding.linear_2.", "time_embed.2.", NONE),
        ("conv_in.", "input_blocks.0.0.", NONE), ("conv_norm_out.", "out.0.", NONE), ("conv_out.", "out.2.", NONE),
        ("mid_block.resnets.0.", "middle_block.0.", UNET_RESNET), ("mid_block.attentions.0.", "middle_block.1.", NONE),
        ("mid_block.resnets.1.", "middle_block.2.", UNET_RESNET),
    ]
    span = layers + 1
    for block in range(len(down_types)):
        for layer in range(layers):
            slot = block * span + layer + 1
            rules.append((f"down_blocks.{block}.resnets.{layer}.", f"input_blocks.{slot}.0.", UNET_RESNET))
            rules.append((f"down_blocks.{block}.attentions.{layer}.", f"input_blocks.{slot}.1.", NONE))
        rules.append((f"down_blocks.{block}.downsamplers.0.conv.", f"input_blocks.{(block + 1) * span}.0.op.", NONE))
    for block, block_type in enumerate(up_types):
        for layer in range(span):
            slot = block * span + layer
            rules.append((f"up_blocks.{block}.resnets.{layer}.", f"output_blocks.{slot}.0.", UNET_RESNET))
            rules.append((f"up_blocks.{block}.attentions.{layer}.", f"output_blocks.{slot}.1.", NONE))
        # The upsampler follows the block's last resnet, and its attention when it has one.
        upsampler = 2 if "CrossAttn" in block_type else 1
        rules.append((f"up_blocks.{block}.upsamplers.0.", f"output_blocks.{block * span + layers}.{upsampler}.", NONE))
    return rules


def vae_rules(config: Mapping[str, Any]) -> list[Rule]:
    """Renames for an `AutoencoderKL`; LDM numbers the decoder's up blocks from the bottom."""
    blocks = len(config["down_block_types"])
    layers = int(config["layers_per_block"])
    rules: list[Rule] = [("quant_conv.", "quant_conv.", NONE), ("post_quant_conv.", "post_quant_conv.", NONE)]
    for part in ("encoder", "decoder"):
        rules += [
            (f"{part}.conv_in.", f"{part}.conv_in.", NONE), (f"{part}.conv_out.", f"{part}.conv_out.", NONE),
            (f"{part}.conv_norm_out.", f"{part}.norm_out.", NONE),
            (f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.", VAE_RESNET),
            (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.", VAE_RESNET),
            (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.", VAE_ATTENTION),
        ]
    for block in range(blocks):
        up = blocks - 1 - block
        rules.append((f"encoder.down_blocks.{block}.downsamplers.0.", f"encoder.down.{block}.downsample.", NONE))
        rules.append((f"decoder.up_blocks.{block}.upsamplers.0.", f"decoder.up.{up}.upsample.", NONE))
        rules += [(f"encoder.down_blocks.{block}.resnets.{layer}.", f"encoder.down.{block}.block.{layer}.", VAE_RESNET)
                  for layer in range(layers)]
        rules += [(f"decoder.up_blocks.{block}.resnets.{layer}.", f"decoder.up.{up}.block.{layer}.", VAE_RESNET)
                  for layer in range(layers + 1)]
    return rules


def rename(key: str, rules: Iterable[Rule]) -> str:
    """The LDM name of a diffusers state-dict key; every key must be covered by a rule."""
    for source, target, renames in rules:
        if key.startswith(source):
            rest = key[len(source):]
            for old, new in renames.items():
                if rest.startswith(old):
                    rest = new + rest[len(old):]
                    break
            return target + rest
    raise ValueError(f"no LDM name for the diffusers key {key!r}")


def _vae_attention_as_conv(key: str, tensor: torch.Tensor) -> torch.Tensor:
    """LDM's VAE attention projections are 1x1 convolutions, diffusers' are linear layers."""
    if ".mid.attn_1." in key and key.endswith(".weight") and tensor.ndim == 2:
        return tensor.reshape(*tensor.shape, 1, 1)
    return tensor


def to_ldm(unet: Any, vae: Any, text_encoder: Any) -> dict[str, torch.Tensor]:
    """The state dicts of an SD UNet, VAE and CLIP text encoder, keyed as in one LDM checkpoint."""
    state: dict[str, torch.Tensor] = {}
    rules = unet_rules(unet.config)
    for key, tensor in unet.state_dict().items():
        state[UNET_PREFIX + rename(key, rules)] = tensor
    rules = vae_rules(vae.config)
    for key, tensor in vae.state_dict().items():
        ldm_key = VAE_PREFIX + rename(key, rules)
        state[ldm_key] = _vae_attention_as_conv(ldm_key, tensor)
    for key, tensor in text_encoder.state_dict().items():
        # transformers >= 5.6 flattened CLIPTextModel; LDM files keep the `text_model.` level.
        state[TEXT_PREFIX + key.removeprefix("text_model.")] = tensor
    return state


def write_ldm_checkpoint(base_dir: Path, out_file: Path) -> None:
    """Write a diffusers SD 1.5-family folder as one LDM-layout `.safetensors` (float32)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    base_dir, out_file = Path(base_dir), Path(out_file)
    state = to_ldm(
        UNet2DConditionModel.from_pretrained(base_dir, subfolder="unet", local_files_only=True, dtype=torch.float32),
        AutoencoderKL.from_pretrained(base_dir, subfolder="vae", local_files_only=True, dtype=torch.float32),
        CLIPTextModel.from_pretrained(base_dir / "text_encoder", local_files_only=True, dtype=torch.float32),
    )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    partial = out_file.with_name(out_file.name + ".partial")
    save_file({key: tensor.contiguous() for key, tensor in state.items()}, str(partial), metadata={"format": "pt"})
    partial.chmod(0o644)  # safetensors writes 0600; workers may run as another user
    os.replace(partial, out_file)


def write_config_folder(base_dir: Path, out_dir: Path) -> None:
    """Copy the JSON and txt files of a diffusers folder (configs, scheduler, tokenizer), no weights."""
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    for path in sorted(base_dir.rglob("*")):
        if path.is_file() and path.suffix in CONFIG_SUFFIXES:
            target = out_dir / path.relative_to(base_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def sd15_config_folder(destination: Path) -> Path:
    """Write the shipped SD 1.5 config folder, with the real CLIP tokenizer, into `destination`."""
    destination = Path(destination)
    shutil.copytree(SD15_CONFIG, destination, dirs_exist_ok=True)
    write_clip_tokenizer(destination / "tokenizer")
    return destination
