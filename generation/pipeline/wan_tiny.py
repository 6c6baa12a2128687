"""A tiny, randomly initialised Wan 2.x model built offline and deterministically.

It has the architecture of the real thing at the size of diffusers' own test components: a
WanTransformer3DModel (2 layers, 2 heads of 12, text dim 32), an AutoencoderKLWan (base dim 3,
z-dim 16, 8x spatial and 4x temporal compression), a small UMT5 encoder and a T5-style Unigram
tokenizer written here with the `tokenizers` library, and the flow-match Euler scheduler.

Two diffusers folders are saved, loaded exactly as real checkpoints are: `t2v/` (WanPipeline)
and `i2v/` (WanImageToVideoPipeline), with the same tokenizer, text encoder and VAE files. The
image-to-video model is one of three builds (`image_to_video`):

- `separate` (the default): the Wan 2.2 A14B layout, its own transformer of the text-to-video one's
  width that reads the noisy latents, a 4-channel frame mask and the encoded first/last frames,
  36 channels in all, and no CLIP image encoder;
- `shared`: the Wan 2.2 TI2V-5B layout, the text-to-video transformer itself, conditioned on the
  first frame by per-token timesteps (`expand_timesteps`);
- `wider`: as `separate` with wider attention heads, as Wan 2.1's I2V-14B is wider than its
  T2V-1.3B: a likeness LoRA trained on the text-to-video transformer does not fit it.

With `two_experts`, each transformer of the `separate` and `wider` builds is Wan 2.2 A14B's pair of
experts instead: `transformer` for high noise and `transformer_2` (its own random weights) below
the pipeline's `boundary_ratio` (A14B's 0.875 for text-to-video, 0.9 for image-to-video).
"""

from __future__ import annotations

import shutil
import string
from pathlib import Path

from generation.pipeline.tiny import staged_build

TEXT_DIM = 32
Z_DIM = 16
MASK_CHANNELS = 4  # one per frame of the VAE's 4x temporal compression
SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")  # T5's ids 0, 1, 2
IMAGE_TO_VIDEO_BUILDS = ("separate", "shared", "wider")
WORDS = ("sks", "person", "woman", "man", "portrait", "photo", "of", "a", "the", "on", "in", "beach", "city", "walking")


def _vocabulary() -> list[tuple[str, float]]:
    """Unigram pieces: every printable ASCII character, alone and word-initial, plus a few whole words,
    so any English prompt tokenizes without <unk>."""
    pieces: list[tuple[str, float]] = [(token, 0.0) for token in SPECIAL_TOKENS]
    pieces.append(("\u2581", -2.0))
    characters = string.ascii_letters + string.digits + string.punctuation
    pieces += [(character, -5.0) for character in characters]
    pieces += [("\u2581" + character, -4.0) for character in characters]
    pieces += [("\u2581" + word, -1.0) for word in WORDS]
    return pieces


def build_tokenizer(directory: Path, *, max_length: int = 512) -> None:
    """Save a T5-style tokenizer (Unigram, Metaspace, `</s>` appended) that transformers' AutoTokenizer loads."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import T5TokenizerFast

    pieces = _vocabulary()
    tokenizer = Tokenizer(Unigram(pieces, unk_id=SPECIAL_TOKENS.index("<unk>")))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(r"\s+", " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    eos = SPECIAL_TOKENS.index("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                             special_tokens=[("</s>", eos)])
    wrapped = T5TokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                              extra_ids=0, additional_special_tokens=[], model_max_length=max_length)
    wrapped.save_pretrained(directory)


def build_tiny_wan(destination: Path, *, seed: int = 0, image_to_video: str = "separate",
                   two_experts: bool = False) -> None:
    """Build and save the tiny Wan model into `destination` (replacing it atomically), with the
    image-to-video model `image_to_video` (one of IMAGE_TO_VIDEO_BUILDS) and, with `two_experts`,
    the two experts of Wan 2.2 A14B (both described above)."""
    if image_to_video not in IMAGE_TO_VIDEO_BUILDS:
        raise ValueError(f"unknown tiny image-to-video build {image_to_video!r}; "
                         f"the builds are: {', '.join(IMAGE_TO_VIDEO_BUILDS)}")
    if two_experts and image_to_video == "shared":
        raise ValueError("the shared build is Wan 2.2 TI2V-5B's one transformer; two experts are A14B's")
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanImageToVideoPipeline,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

    with staged_build(destination, prefix=".tiny-wan-") as staging:
        build_tokenizer(staging / "tokenizer-source")
        tokenizer = AutoTokenizer.from_pretrained(staging / "tokenizer-source", local_files_only=True)
        torch.manual_seed(seed)
        text_encoder = UMT5EncoderModel(UMT5Config(
            vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        ))
        torch.manual_seed(seed)
        vae = AutoencoderKLWan(base_dim=3, z_dim=Z_DIM, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                               temperal_downsample=[False, True, True])
        scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)

        def transformer(in_channels: int, head_dim: int = 12, *, expert: int = 0) -> WanTransformer3DModel:
            torch.manual_seed(seed + expert)
            return WanTransformer3DModel(
                patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=head_dim, in_channels=in_channels,
                out_channels=Z_DIM, text_dim=TEXT_DIM, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
            )

        shared = {"tokenizer": tokenizer, "text_encoder": text_encoder, "vae": vae, "scheduler": scheduler}
        text_to_video = transformer(Z_DIM)
        experts = {"transformer_2": transformer(Z_DIM, expert=1), "boundary_ratio": 0.875} if two_experts else {}
        WanPipeline(transformer=text_to_video, **experts, **shared).save_pretrained(staging / "t2v",
                                                                                    safe_serialization=True)
        if image_to_video == "shared":
            image_pipe = WanImageToVideoPipeline(transformer=text_to_video, expand_timesteps=True, **shared)
        else:
            channels, head_dim = 2 * Z_DIM + MASK_CHANNELS, 16 if image_to_video == "wider" else 12
            experts = {"transformer_2": transformer(channels, head_dim, expert=1), "boundary_ratio": 0.9} \
                if two_experts else {}
            image_pipe = WanImageToVideoPipeline(transformer=transformer(channels, head_dim), **experts, **shared)
        image_pipe.save_pretrained(staging / "i2v", safe_serialization=True)
        shutil.rmtree(staging / "tokenizer-source")


def tiny_wan_present(destination: Path) -> bool:
    return all((Path(destination) / part / "model_index.json").is_file() for part in ("t2v", "i2v"))
