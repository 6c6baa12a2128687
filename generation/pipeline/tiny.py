"""A tiny, randomly initialised AnimateDiff model built offline and deterministically.

It has the architecture of the real thing (an SD 1.5-style base with a VAE of scale
factor 8, a CLIP text encoder and tokenizer, and a motion adapter) at a size that
renders in well under a second on a CPU. It is saved with `save_pretrained` as two
folders, `base/` and `motion_adapter/`, and loaded exactly as real checkpoints are.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generation.pipeline.clip_tokenizer import bytes_to_unicode

TEXT_HIDDEN = 32
UNET_BLOCKS = (16, 32)
VAE_BLOCKS = (8, 8, 8, 8)
MAX_TOKENS = 77
MAX_FRAMES = 32


def write_tokenizer_files(directory: Path) -> None:
    """A byte-level CLIP BPE vocabulary: any prompt tokenizes without <unk>.

    The special tokens come last so that CLIP's argmax(input_ids) end-of-text pooling
    also lands on them.
    """
    symbols = list(bytes_to_unicode().values())
    merges = ["s k", "sk s</w>", "t h", "th e</w>"]
    vocab_list = symbols + [s + "</w>" for s in symbols] + ["sk", "sks</w>", "th", "the</w>"]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab_list)}), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


def build_tiny_model(destination: Path, *, seed: int = 0) -> None:
    """Build and save the tiny model into `destination` (replacing it atomically)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, MotionAdapter, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    with staged_build(destination, prefix=".tiny-") as staging:
        token_dir = staging / "tokenizer-source"
        write_tokenizer_files(token_dir)
        tokenizer = CLIPTokenizer.from_pretrained(token_dir, model_max_length=MAX_TOKENS, local_files_only=True)
        bos = tokenizer.convert_tokens_to_ids("<|startoftext|>")
        eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")

        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=UNET_BLOCKS, layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=TEXT_HIDDEN, attention_head_dim=8, norm_num_groups=8,
        )
        torch.manual_seed(seed)
        vae = AutoencoderKL(
            block_out_channels=VAE_BLOCKS, in_channels=3, out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * len(VAE_BLOCKS), up_block_types=["UpDecoderBlock2D"] * len(VAE_BLOCKS),
            latent_channels=4, layers_per_block=1, norm_num_groups=4, sample_size=64,
        )
        torch.manual_seed(seed)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            bos_token_id=bos, eos_token_id=eos, pad_token_id=eos, hidden_size=TEXT_HIDDEN, intermediate_size=37,
            layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer),
            max_position_embeddings=MAX_TOKENS, projection_dim=TEXT_HIDDEN,
        ))
        torch.manual_seed(seed)
        motion_adapter = MotionAdapter(
            block_out_channels=UNET_BLOCKS, motion_layers_per_block=1, motion_norm_num_groups=8,
            motion_num_attention_heads=2, motion_max_seq_length=MAX_FRAMES,
        )
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False,
                                  timestep_spacing="linspace", steps_offset=1)
        base = StableDiffusionPipeline(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
            safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False,
        )
        base.save_pretrained(staging / "base", safe_serialization=True)
        motion_adapter.save_pretrained(staging / "motion_adapter", safe_serialization=True)
        shutil.rmtree(token_dir)


@contextmanager
def staged_build(destination: Path, *, prefix: str) -> Iterator[Path]:
    """A fresh folder beside `destination` to build a model in: when the block ends, its
    weights are made readable to all and it replaces `destination` at once; when the block
    fails, it is removed and `destination` is left as it was."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=destination.parent))
    try:
        yield staging
        for weights in staging.rglob("*.safetensors"):
            weights.chmod(0o644)  # safetensors writes 0600; workers may run as another user
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def tiny_model_present(destination: Path) -> bool:
    return (Path(destination) / "base" / "model_index.json").is_file() and \
        (Path(destination) / "motion_adapter" / "config.json").is_file()
