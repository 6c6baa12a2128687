"""Loading the video pipeline from local folders, once per worker process."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from diffusers import AnimateDiffPipeline


class ModelUnavailable(Exception):
    """The configured model folders are missing or cannot be loaded."""


@dataclass(frozen=True)
class ModelSpec:
    """A base image model folder (diffusers layout) plus a motion adapter folder."""

    base: Path
    motion_adapter: Path
    device: str = "auto"
    threads: int = 0


@dataclass
class LoadedPipeline:
    pipe: AnimateDiffPipeline
    device: str
    model_sha256: str


def resolve_device(preference: str) -> tuple[str, torch.dtype]:
    import torch

    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {preference!r}")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable("BESPOKE_DEVICE=cuda but no CUDA device is available")
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return "cuda", dtype
    return "cpu", torch.float32


def model_fingerprint(spec: ModelSpec) -> str:
    """SHA-256 over every file of both folders: the model's identity, not its name."""
    digest = hashlib.sha256()
    for root in (spec.base, spec.motion_adapter):
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(root)).encode("utf-8") + b"\0")
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def load_video_pipeline(spec: ModelSpec) -> LoadedPipeline:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from diffusers import AnimateDiffPipeline, MotionAdapter
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    for folder in (spec.base, spec.motion_adapter):
        if not Path(folder).is_dir():
            raise ModelUnavailable(f"model folder {folder} does not exist (run `manage.py bootstrap`?)")
    if spec.threads:
        torch.set_num_threads(spec.threads)
    device, dtype = resolve_device(spec.device)
    try:
        adapter = MotionAdapter.from_pretrained(spec.motion_adapter, local_files_only=True, dtype=dtype)
        pipe = AnimateDiffPipeline.from_pretrained(spec.base, motion_adapter=adapter, local_files_only=True, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot load the model from {spec.base} and {spec.motion_adapter}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    pipe.to(device)
    return LoadedPipeline(pipe=pipe, device=device, model_sha256=model_fingerprint(spec))


class PipelineCache:
    """Keeps the loaded pipeline for the life of the (forked) worker process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spec: ModelSpec | None = None
        self._loaded: LoadedPipeline | None = None

    def get(self, spec: ModelSpec) -> LoadedPipeline:
        with self._lock:
            if self._loaded is None or self._spec != spec:
                self._loaded = None
                self._loaded = load_video_pipeline(spec)
                self._spec = spec
            return self._loaded

    def clear(self) -> None:
        with self._lock:
            self._spec = None
            self._loaded = None


pipeline_cache = PipelineCache()
