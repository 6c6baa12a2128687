"""Single-file (LDM-layout) checkpoints load through the production path; the SD 1.5 configs ship with Bespoke."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from generation.pipeline.loading import ModelSpec, ModelUnavailable, load_video_pipeline, model_fingerprint
from generation.pipeline.rendering import RenderSettings, render_frames
from generation.pipeline.single_file import (
    SD15_CONFIG,
    sd15_config_folder,
    to_ldm,
    write_config_folder,
    write_ldm_checkpoint,
)

SETTINGS = RenderSettings(prompt="sks person on a beach", negative_prompt="blurry", num_frames=4, width=64, height=64,
                          steps=3, guidance_scale=7.5, seed=7)
LDM_PREFIXES = ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.text_model.")


@pytest.fixture(scope="module")
def single_file(tiny_model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny base as one LDM checkpoint, and its weightless config folder."""
    root = tmp_path_factory.mktemp("single-file")
    write_ldm_checkpoint(tiny_model_root / "base", root / "tiny.safetensors")
    write_config_folder(tiny_model_root / "base", root / "config")
    return root / "tiny.safetensors", root / "config"


def _file_spec(tiny_model_root: Path, checkpoint: Path, config: Path | None) -> ModelSpec:
    return ModelSpec(base=checkpoint, motion_adapter=tiny_model_root / "motion_adapter", device="cpu", config=config)


def test_a_single_file_checkpoint_renders_the_same_frames_as_its_folder(tiny_model_root, single_file):
    from safetensors import safe_open

    checkpoint, config = single_file
    with safe_open(str(checkpoint), framework="pt") as handle:
        assert all(key.startswith(LDM_PREFIXES) for key in handle.keys())
    assert (config / "model_index.json").is_file()
    assert not [p for p in config.rglob("*") if p.suffix in (".safetensors", ".bin")], "configs only, no weights"

    folder = load_video_pipeline(ModelSpec(base=tiny_model_root / "base", motion_adapter=tiny_model_root / "motion_adapter",
                                           device="cpu"))
    single = load_video_pipeline(_file_spec(tiny_model_root, checkpoint, config))
    assert np.array_equal(render_frames(single.pipe, SETTINGS), render_frames(folder.pipe, SETTINGS))
    assert single.model_sha256 != folder.model_sha256


def test_the_fingerprint_of_a_single_file_model_covers_its_config_folder(tiny_model_root, single_file, tmp_path):
    checkpoint, config = single_file
    edited = shutil.copytree(config, tmp_path / "config")
    scheduler = edited / "scheduler" / "scheduler_config.json"
    scheduler.write_text(json.dumps({**json.loads(scheduler.read_text()), "steps_offset": 0}))
    original = model_fingerprint(_file_spec(tiny_model_root, checkpoint, config))
    assert original == model_fingerprint(_file_spec(tiny_model_root, checkpoint, config))
    assert original != model_fingerprint(_file_spec(tiny_model_root, checkpoint, edited))


def test_a_single_file_checkpoint_without_its_config_folder_is_refused_clearly(tiny_model_root, single_file, tmp_path):
    checkpoint, _ = single_file
    with pytest.raises(ModelUnavailable, match="needs a config folder"):
        load_video_pipeline(_file_spec(tiny_model_root, checkpoint, None))
    with pytest.raises(ModelUnavailable, match="has no model_index.json"):
        load_video_pipeline(_file_spec(tiny_model_root, checkpoint, tmp_path / "missing"))
    with pytest.raises(ModelUnavailable, match="does not exist"):
        load_video_pipeline(_file_spec(tiny_model_root, tmp_path / "absent.safetensors", single_file[1]))


def test_the_real_clip_tokenizer_is_rebuilt_offline(tmp_path):
    from transformers import CLIPTokenizer

    folder = sd15_config_folder(tmp_path / "sd15")
    assert len(json.loads((folder / "tokenizer" / "vocab.json").read_text(encoding="utf-8"))) == 49408
    assert len((folder / "tokenizer" / "merges.txt").read_text(encoding="utf-8").splitlines()) == 1 + 48894
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tokenizer.model_max_length == 77


def test_the_shipped_sd15_configs_describe_stable_diffusion_1_5():
    from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig

    index = DiffusionPipeline.load_config(SD15_CONFIG)
    assert (index["_class_name"], index["unet"], index["vae"], index["text_encoder"], index["tokenizer"]) == (
        "StableDiffusionPipeline", ["diffusers", "UNet2DConditionModel"], ["diffusers", "AutoencoderKL"],
        ["transformers", "CLIPTextModel"], ["transformers", "CLIPTokenizer"])
    unet = UNet2DConditionModel.load_config(SD15_CONFIG, subfolder="unet")
    assert (unet["block_out_channels"], unet["cross_attention_dim"], unet["attention_head_dim"],
            unet["layers_per_block"], unet["sample_size"]) == ([320, 640, 1280, 1280], 768, 8, 2, 64)
    vae = AutoencoderKL.load_config(SD15_CONFIG, subfolder="vae")
    assert (vae["block_out_channels"], vae["latent_channels"], vae["scaling_factor"]) == ([128, 256, 512, 512], 4, 0.18215)
    text = CLIPTextConfig.from_pretrained(SD15_CONFIG / "text_encoder")
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.intermediate_size,
            text.vocab_size, text.max_position_embeddings, text.hidden_act) == (768, 12, 12, 3072, 49408, 77, "quick_gelu")
    scheduler = DDIMScheduler.from_pretrained(SD15_CONFIG, subfolder="scheduler")
    assert (scheduler.config.steps_offset, scheduler.config.beta_schedule, scheduler.config.clip_sample) == (1, "linear", False)
    assert (SD15_CONFIG / "tokenizer" / "tokenizer_config.json").is_file()


def test_a_full_size_sd15_maps_onto_the_original_ldm_layout():
    """Checked on meta tensors: names and shapes only, no memory."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(SD15_CONFIG, subfolder="unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SD15_CONFIG, subfolder="vae"))
        text_encoder = CLIPTextModel(CLIPTextConfig.from_pretrained(SD15_CONFIG / "text_encoder"))
    state = to_ldm(unet, vae, text_encoder)
    assert [sum(key.startswith(prefix) for key in state) for prefix in LDM_PREFIXES] == [686, 248, 196]
    expected = {
        "model.diffusion_model.input_blocks.9.0.op.weight": (1280, 1280, 3, 3),
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768),
        "model.diffusion_model.output_blocks.2.1.conv.weight": (1280, 1280, 3, 3),
        "model.diffusion_model.output_blocks.8.2.conv.weight": (640, 640, 3, 3),
        "model.diffusion_model.output_blocks.11.0.skip_connection.weight": (320, 640, 1, 1),
        "first_stage_model.decoder.up.3.upsample.conv.weight": (512, 512, 3, 3),
        "first_stage_model.encoder.down.1.block.0.nin_shortcut.weight": (256, 128, 1, 1),
        "first_stage_model.encoder.mid.attn_1.q.weight": (512, 512, 1, 1),
        "cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc2.weight": (768, 3072),
    }
    assert {key: tuple(state[key].shape) for key in expected} == expected
    # diffusers' own LDM reader gives back every UNet and VAE tensor with its shape.
    for model, back in ((unet, convert_ldm_unet_checkpoint(state, unet.config)),
                        (vae, convert_ldm_vae_checkpoint(state, vae.config))):
        assert {k: tuple(v.shape) for k, v in back.items()} == {k: tuple(v.shape) for k, v in model.state_dict().items()}
