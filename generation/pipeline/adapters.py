"""Likeness adapters (LoRA) loaded for one job and unloaded after it.

The weights arrive decrypted, in memory. diffusers loads LoRA files by path, so they
are written to a private temporary folder (in RAM where /dev/shm exists) only for the
load and removed at once; the base pipeline stays loaded between jobs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ADAPTER_NAME = "likeness"
WEIGHT_FILE = "pytorch_lora_weights.safetensors"


def private_tempdir(prefix: str) -> Path:
    ram = Path("/dev/shm")
    base = str(ram) if ram.is_dir() and os.access(ram, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))  # mode 0700


@contextmanager
def likeness_adapter(pipe: Any, weights: bytes, weight: float, *, name: str = ADAPTER_NAME) -> Iterator[None]:
    folder = private_tempdir("bespoke-lora-")
    try:
        (folder / WEIGHT_FILE).write_bytes(weights)
        with warnings.catch_warnings():
            # An image LoRA has no weights for the motion modules' attention; peft reports that as an
            # "inconsistency", which is exactly what is intended here.
            warnings.filterwarnings("ignore", message="While injecting the PEFT adapters", category=RuntimeWarning)
            pipe.load_lora_weights(str(folder), weight_name=WEIGHT_FILE, adapter_name=name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    try:
        pipe.set_adapters([name], adapter_weights=[weight])
        yield
    finally:
        pipe.delete_adapters(name)
