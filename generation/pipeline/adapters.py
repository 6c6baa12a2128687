"""Likeness adapters (LoRA) loaded for one job and unloaded after it.

The weights arrive decrypted, in memory. diffusers loads LoRA files by path, so they
are written to a private temporary folder (in RAM where /dev/shm exists) only for the
load and removed at once; the base pipeline stays loaded between jobs. A scene loads one
adapter for each likeness in it, each under its own name, all active at once.

A pipeline with two experts (Wan 2.2 A14B's `transformer` and `transformer_2`) gets the adapter
in both: a file trained on two experts holds `transformer_2.*` keys for the second, loaded into it
with diffusers' `load_into_transformer_2`; a file of one transformer goes into both experts.
"""

from __future__ import annotations

import json
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
SECOND_EXPERT = "transformer_2"
SECOND_EXPERT_FILE = "second_expert_lora_weights.safetensors"
METADATA_KEY = "lora_adapter_metadata"  # where diffusers keeps a LoRA's peft config in the file


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
            if getattr(pipe, SECOND_EXPERT, None) is not None:
                second = _second_expert_file(folder)
                pipe.load_lora_weights(str(folder), weight_name=second, adapter_name=name, load_into_transformer_2=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _second_expert_file(folder: Path) -> str:
    """The file (in `folder`) of what the second expert takes: the `transformer_2.*` part of a file
    trained on two experts, renamed to the `transformer.*` keys the loader reads, or the file itself."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    prefix = f"{SECOND_EXPERT}."
    with safe_open(str(folder / WEIGHT_FILE), framework="pt") as source:
        keys = [key for key in source.keys() if key.startswith(prefix)]  # noqa: SIM118 (safe_open is not a dict)
        if not keys:
            return WEIGHT_FILE
        tensors = {"transformer." + key.removeprefix(prefix): source.get_tensor(key) for key in keys}
        metadata = dict(source.metadata() or {})
    if metadata.get(METADATA_KEY):
        config = json.loads(metadata[METADATA_KEY])
        metadata[METADATA_KEY] = json.dumps({"transformer." + key.removeprefix(prefix): value
                                             for key, value in config.items() if key.startswith(prefix)})
    save_file(tensors, str(folder / SECOND_EXPERT_FILE), metadata=metadata)
    return SECOND_EXPERT_FILE
