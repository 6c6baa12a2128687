"""The real CLIP tokenizer of SD 1.5, rebuilt offline from OpenAI's BPE merges file.

Single-file checkpoints carry no tokenizer. CLIP's byte-level BPE is fully defined by its
merges list (`configs/clip/bpe_simple_vocab_16e6.txt.gz`, shipped with Bespoke under
OpenAI's MIT license); the vocabulary follows from it by OpenAI's own construction, so the
files that transformers' `CLIPTokenizer` reads are written here instead of downloaded.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

CLIP_BPE = Path(__file__).resolve().parent / "configs" / "clip" / "bpe_simple_vocab_16e6.txt.gz"
MERGES = 49152 - 256 - 2  # OpenAI keeps this many merges, so the vocabulary has 49,408 tokens
SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")


def bytes_to_unicode() -> dict[int, str]:
    """The byte-to-printable table used by CLIP's byte-level BPE."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


def write_clip_tokenizer(out_dir: Path, bpe_file: Path = CLIP_BPE) -> None:
    """Write `vocab.json` and `merges.txt` of the CLIP ViT-L/14 tokenizer from OpenAI's BPE file."""
    lines = gzip.decompress(Path(bpe_file).read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:MERGES + 1]]  # the first line is a version header
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(pair) for pair in merges] + list(SPECIAL_TOKENS)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False),
                                        encoding="utf-8")
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(p) for p in merges) + "\n",
                                        encoding="utf-8")
