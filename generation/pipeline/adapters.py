"""Likeness adapters (LoRA) loaded for one job and unloaded after it.

The weights arrive decrypted, in memory. diffusers loads LoRA files by path, so they
are written to a private temporary folder (in RAM where /dev/shm exists) only for the
load and removed at once; the base pipeline stays loaded between jobs. A scene loads one
adapter for each likeness in it, each under its own name, all active at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

ADAPTER_NAME = "likeness"
WEIGHT_FILE = "pytorch_lora_weights.safetensors"


def private_tempdir(prefix: str) -> Path:
    ram = Path("/dev/shm")
    base = str(ram) if ram.is_dir() and os.access(ram, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))  # mode 0700


def likeness_adapter(pipe: Any, weights: bytes, weight: float, *, name: str = ADAPTER_NAME) -> AbstractContextManager[None]:
    """One likeness adapter, active at ``weight`` inside the block."""
    return likeness_adapters(pipe, [(weights, weight)], names=[name])


@contextmanager
def likeness_adapters(pipe: Any, adapters: Sequence[tuple[bytes, float]], *,
                      names: Sequence[str] | None = None) -> Iterator[None]:
    """Each (weights, weight) loaded under its own adapter name and all active together inside
    the block; every one loaded is deleted after it, whatever happens. None: the base model."""
    names = list(names) if names is not None else [f"{ADAPTER_NAME}_{number}" for number in range(len(adapters))]
    if len(names) != len(adapters):
        raise ValueError("one adapter name for each adapter")
    loaded: list[str] = []
    try:
        for name, (weights, _) in zip(names, adapters):
            _load(pipe, weights, name)
            loaded.append(name)
        if loaded:
            pipe.set_adapters(loaded, adapter_weights=[weight for _, weight in adapters])
        yield
    finally:
        if loaded:
            pipe.delete_adapters(loaded)


def _load(pipe: Any, weights: bytes, name: str) -> None:
    folder = private_tempdir("bespoke-lora-")
    try:
        (folder / WEIGHT_FILE).write_bytes(weights)
        with warnings.catch_warnings():
            # An image LoRA has no weights for the motion modules' attention; peft reports that as an
            # "inconsistency", which is exactly what is intended here.
            warnings.filterwarnings("ignore", message="While injecting the PEFT adapters", category=RuntimeWarning)
            # A scene's second likeness finds the first's adapter in the model: several at once is the point.
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute", category=UserWarning)
            pipe.load_lora_weights(str(folder), weight_name=WEIGHT_FILE, adapter_name=name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
