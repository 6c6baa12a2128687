"""Likeness adapters (LoRA) loaded for one job and unloaded after it.

The weights arrive decrypted, in memory. diffusers loads LoRA files by path, so they
are written to a private temporary folder (in RAM where /dev/shm exists) only for the
load and removed at once; the base pipeline stays loaded between jobs. A scene loads one
adapter for each likeness in it, each under its own name, all active at once.

A pipeline with two experts (Wan 2.2 A14B's `transformer` and `transformer_2`) gets the adapter
in both: a file trained on two experts holds `transformer_2.*` keys for the second, loaded into it
with diffusers' `load_into_transformer_2`; a file of one transformer goes into both experts.

A compiled denoiser (BESPOKE_COMPILE) would recompile for every adapter loaded or deleted, so there
the likenesses go into adapter slots instead (`likeness_slot_0`, ...), made at the first likeness job
and kept: every slot always active, its LoRA layers padded to the slots' rank and their scales tensors
(diffusers' `enable_lora_hotswap`). A job copies each likeness's weights into a slot in place (diffusers'
`load_lora_weights(..., hotswap=True)`) and multiplies that slot's scales by the likeness's weight; after
the job every slot's weights and scales are zeroed, so no likeness stays in memory and a render without
one is the base model's. Nothing a compiled graph depends on changes, so nothing recompiles. The slots
are made again, larger, when a job brings more likenesses, or a higher rank (at least SLOT_RANK), than
they hold: that job recompiles, once. Every likeness model adapts the same layers (the trainers' fixed
target modules); a file that adapts others cannot be swapped in and is refused (AdapterMismatch).
diffusers cannot hot-swap the text encoder, which is not compiled: a likeness's text-encoder part is
loaded for its job and deleted after it, as without compile.
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

from generation.pipeline.acceleration import is_compiled

ADAPTER_NAME = "likeness"
WEIGHT_FILE = "pytorch_lora_weights.safetensors"
SECOND_EXPERT = "transformer_2"
SECOND_EXPERT_FILE = "second_expert_lora_weights.safetensors"
METADATA_KEY = "lora_adapter_metadata"  # where diffusers keeps a LoRA's peft config in the file
SLOT = "likeness_slot"
# The least rank the slots are padded to: above the trainers' default (4), so that likenesses trained at
# the usual ranks swap in without growing the slots (a rank-r slot costs two r-wide products per layer).
SLOT_RANK = 16
DENOISERS = ("unet", "transformer", SECOND_EXPERT)
TEXT_ENCODER = "text_encoder"
DENOISER_FILE = "denoiser_lora_weights.safetensors"
TEXT_ENCODER_FILE = "text_encoder_lora_weights.safetensors"


class AdapterMismatch(ValueError):
    """A likeness LoRA that cannot be swapped into the compiled denoiser's adapter slots."""


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
    the block; every one loaded is deleted after it, whatever happens. None: the base model.
    With a compiled denoiser they are swapped into its adapter slots instead (`names` unused), and
    zeroed there after the block."""
    names = list(names) if names is not None else [f"{ADAPTER_NAME}_{number}" for number in range(len(adapters))]
    if len(names) != len(adapters):
        raise ValueError("one adapter name for each adapter")
    if hotswaps(pipe):  # the slots have names of their own
        with _swapped(pipe, adapters):
            yield
        return
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


def hotswaps(pipe: Any) -> bool:
    """Whether `pipe` takes likeness adapters into hot-swapped slots: when a denoiser of it is compiled."""
    return any(is_compiled(denoiser) for denoiser in _denoisers(pipe))


def adapter_slots(pipe: Any) -> list[str]:
    """The adapter slots made in `pipe`'s denoisers, in order."""
    config = getattr(_denoisers(pipe)[0], "peft_config", None) or {}
    numbers = [int(name.removeprefix(f"{SLOT}_")) for name in config
               if name.startswith(f"{SLOT}_") and name.removeprefix(f"{SLOT}_").isdigit()]
    return [f"{SLOT}_{number}" for number in sorted(numbers)]


def slots_rank(pipe: Any) -> int:
    """The rank the slots' LoRA layers are padded to (0 without slots)."""
    slots = adapter_slots(pipe)
    for module in _lora_layers(pipe):
        if slots and slots[0] in module.lora_A:
            return int(module.lora_A[slots[0]].weight.shape[0])
    return 0


@contextmanager
def _swapped(pipe: Any, adapters: Sequence[tuple[bytes, float]]) -> Iterator[None]:
    if not adapters:
        yield  # the slots hold zeros between jobs: the base model
        return
    folders = [private_tempdir("bespoke-lora-") for _ in adapters]
    text_names: list[str] = []
    text_weights: list[float] = []
    try:
        ranks = [_split(folder, weights) for folder, (weights, _) in zip(folders, adapters)]
        slots = _slots_for(pipe, folders, len(adapters), max(ranks))
        for slot, folder, (_, weight) in zip(slots, folders, adapters):
            _load_files(pipe, folder, DENOISER_FILE, slot, hotswap=True)
            _scale(pipe, slot, weight)
            if (folder / TEXT_ENCODER_FILE).exists():
                text_names.append(f"{ADAPTER_NAME}_text_{len(text_names)}")
                text_weights.append(weight)
                _load_files(pipe, folder, TEXT_ENCODER_FILE, text_names[-1], hotswap=False)
        if text_names:
            from diffusers.loaders.lora_base import set_adapters_for_text_encoder

            set_adapters_for_text_encoder(text_names, getattr(pipe, TEXT_ENCODER), text_weights)
        for folder in folders:  # the weights are in the model now
            shutil.rmtree(folder, ignore_errors=True)
        yield
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        _zero_slots(pipe)
        if text_names:
            from diffusers.utils.peft_utils import delete_adapter_layers

            for name in text_names:
                delete_adapter_layers(getattr(pipe, TEXT_ENCODER), name)


def _slots_for(pipe: Any, folders: Sequence[Path], count: int, rank: int) -> list[str]:
    """The first `count` slots, made (or made again, larger) to hold `count` adapters of up to `rank`."""
    slots, held_rank = adapter_slots(pipe), slots_rank(pipe)
    if len(slots) >= count and held_rank >= rank:
        return slots[:count]
    count, rank = max(count, len(slots)), max(rank, held_rank, SLOT_RANK)
    if slots:
        pipe.delete_adapters(slots)
    slots = [f"{SLOT}_{number}" for number in range(count)]
    for number, slot in enumerate(slots):
        for denoiser in _denoisers(pipe):
            # Each slot's load pads every LoRA layer to `rank` and makes their scales tensors, so that
            # swapping weights and scales later changes no shape and no constant the compiled code holds.
            denoiser.enable_lora_hotswap(target_rank=rank, check_compiled="ignore")
        _load_files(pipe, folders[min(number, len(folders) - 1)], DENOISER_FILE, slot, hotswap=False)
    for denoiser in _denoisers(pipe):
        denoiser.set_adapter(slots)
    _zero_slots(pipe)
    return slots[:len(folders)]


def _split(folder: Path, weights: bytes) -> int:
    """Write the likeness's denoiser part (and its text-encoder part, if any) to `folder`; its rank."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    source_file = folder / WEIGHT_FILE
    source_file.write_bytes(weights)
    with safe_open(str(source_file), framework="pt") as source:
        tensors = {key: source.get_tensor(key) for key in source.keys()}  # noqa: SIM118 (safe_open is not a dict)
        metadata = dict(source.metadata() or {})
    text = {key: value for key, value in tensors.items() if key.startswith(f"{TEXT_ENCODER}.")}
    denoiser = {key: value for key, value in tensors.items() if key not in text}
    if not denoiser:
        raise AdapterMismatch("the likeness model has no weights for the denoiser")
    save_file(denoiser, str(folder / DENOISER_FILE), metadata=metadata)
    if text:
        save_file(text, str(folder / TEXT_ENCODER_FILE), metadata=metadata)
    source_file.unlink()
    return max(min(value.shape) for value in denoiser.values() if value.ndim == 2)


def _scale(pipe: Any, slot: str, weight: float) -> None:
    """Multiply the slot's scales (the swapped-in LoRA's alpha over rank) by the job's weight, in place."""
    for module in _lora_layers(pipe):
        if slot in module.scaling:
            module.scaling[slot].mul_(weight)


def _zero_slots(pipe: Any) -> None:
    import torch

    slots = set(adapter_slots(pipe))
    with torch.no_grad():
        for module in _lora_layers(pipe):
            for slot in slots & set(module.lora_A):
                module.lora_A[slot].weight.zero_()
                module.lora_B[slot].weight.zero_()
                if isinstance(module.scaling.get(slot), torch.Tensor):
                    module.scaling[slot].zero_()


def _denoisers(pipe: Any) -> list[Any]:
    return [module for name in DENOISERS if (module := getattr(pipe, name, None)) is not None]


def _lora_layers(pipe: Any) -> Iterator[Any]:
    from peft.tuners.lora import LoraLayer

    for denoiser in _denoisers(pipe):
        for module in denoiser.modules():
            if isinstance(module, LoraLayer):
                yield module


def _load_files(pipe: Any, folder: Path, weight_name: str, name: str, *, hotswap: bool) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="While injecting the PEFT adapters", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute", category=UserWarning)
        try:
            pipe.load_lora_weights(str(folder), weight_name=weight_name, adapter_name=name, hotswap=hotswap)
            if getattr(pipe, SECOND_EXPERT, None) is not None and weight_name == DENOISER_FILE:
                second = _second_expert_file(folder, weight_name)
                pipe.load_lora_weights(str(folder), weight_name=second, adapter_name=name, hotswap=hotswap,
                                       load_into_transformer_2=True)
        except RuntimeError as exc:
            if hotswap and "unexpected keys" in str(exc):
                raise AdapterMismatch("this likeness model adapts layers the loaded ones do not; it cannot be "
                                      "swapped into the compiled denoiser") from exc
            raise


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


def _second_expert_file(folder: Path, weight_name: str = WEIGHT_FILE) -> str:
    """The file (in `folder`) of what the second expert takes: the `transformer_2.*` part of a file
    trained on two experts, renamed to the `transformer.*` keys the loader reads, or the file itself."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    prefix = f"{SECOND_EXPERT}."
    with safe_open(str(folder / weight_name), framework="pt") as source:
        keys = [key for key in source.keys() if key.startswith(prefix)]  # noqa: SIM118 (safe_open is not a dict)
        if not keys:
            return weight_name
        tensors = {"transformer." + key.removeprefix(prefix): source.get_tensor(key) for key in keys}
        metadata = dict(source.metadata() or {})
    if metadata.get(METADATA_KEY):
        config = json.loads(metadata[METADATA_KEY])
        metadata[METADATA_KEY] = json.dumps({"transformer." + key.removeprefix(prefix): value
                                             for key, value in config.items() if key.startswith(prefix)})
    save_file(tensors, str(folder / SECOND_EXPERT_FILE), metadata=metadata)
    return SECOND_EXPERT_FILE
