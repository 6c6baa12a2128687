"""Loading the video pipeline from local files, once per worker process."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from generation.pipeline.acceleration import accelerate

if TYPE_CHECKING:
    import torch
    from diffusers import AnimateDiffPipeline, StableDiffusionPipeline


class ModelUnavailable(Exception):
    """The configured model files are missing or cannot be loaded."""


@dataclass(frozen=True)
class ModelSpec:
    """A base image model plus a motion adapter folder.

    `base` is a diffusers folder, or a single LDM-layout `.safetensors` checkpoint; a checkpoint
    needs `config`, a diffusers folder of the same architecture holding only its configs and
    tokenizer (it is not used for a folder base).
    """

    family: ClassVar[str] = "animatediff-sd15"
    base: Path
    motion_adapter: Path
    device: str = "auto"
    threads: int = 0
    config: Path | None = None
    compile: bool = False  # torch.compile the denoiser (acceleration.accelerate)

    @property
    def single_file(self) -> bool:
        return Path(self.base).suffix == ".safetensors"

    def load(self) -> LoadedModel:
        return load_video_pipeline(self)


@dataclass(frozen=True)
class ModelIdentity:
    """What a clip was rendered with: the base model's files and each likeness adapter, by SHA-256."""

    family: str
    base_sha256: str
    adapter_sha256s: tuple[str, ...] = ()


@dataclass
class LoadedModel:
    """A family's pipelines, loaded once per worker process."""

    family: str
    pipe: Any  # text-to-video
    device: str
    model_sha256: str
    image_pipe: Any | None = None  # image-to-video, where the family and the deployment have one
    # Whether a likeness LoRA trained on `pipe`'s denoiser loads into `image_pipe`'s (the same module, or
    # one of the same shape).
    likeness_fits_image_to_video: bool = False

    def identity(self, adapters: Sequence[bytes] = ()) -> ModelIdentity:
        return ModelIdentity(family=self.family, base_sha256=self.model_sha256,
                             adapter_sha256s=tuple(hashlib.sha256(weights).hexdigest() for weights in adapters))


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


def _model_roots(spec: ModelSpec) -> tuple[Path, ...]:
    """The files and folders the pipeline is loaded from."""
    if spec.single_file:
        return tuple(Path(p) for p in (spec.base, spec.config, spec.motion_adapter) if p is not None)
    return Path(spec.base), Path(spec.motion_adapter)


def files_sha256(roots: Iterable[Path]) -> str:
    """SHA-256 over every file under each root (a file or a folder), with relative names: a model's
    identity, not its name."""
    digest = hashlib.sha256()
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path != root:
                digest.update(str(path.relative_to(root)).encode("utf-8") + b"\0")
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def same_files(first: Path, second: Path) -> bool:
    """Whether two files or folders hold byte-identical files under the same relative names (the same
    path is; otherwise names and sizes are compared before any byte is hashed)."""
    first, second = Path(first), Path(second)
    if first.resolve() == second.resolve():
        return True

    def listing(root: Path) -> list[tuple[str, int]]:
        if root.is_file():
            return [("", root.stat().st_size)]
        return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())

    if not (first.exists() and second.exists()) or listing(first) != listing(second):
        return False
    return files_sha256([first]) == files_sha256([second])


def model_fingerprint(spec: ModelSpec) -> str:
    """SHA-256 over every file the model is loaded from."""
    return files_sha256(_model_roots(spec))


def _check_present(spec: ModelSpec) -> None:
    hint = "(run `manage.py bootstrap`?)"
    if spec.single_file:
        if not Path(spec.base).is_file():
            raise ModelUnavailable(f"model file {spec.base} does not exist {hint}")
        if spec.config is None:
            raise ModelUnavailable(f"the single-file checkpoint {spec.base} needs a config folder, and none is set")
        if not (Path(spec.config) / "model_index.json").is_file():
            raise ModelUnavailable(f"config folder {spec.config} for {spec.base} has no model_index.json {hint}")
    elif Path(spec.base).is_file():
        raise ModelUnavailable(f"{spec.base} is a file but not a .safetensors checkpoint")
    elif not Path(spec.base).is_dir():
        raise ModelUnavailable(f"model folder {spec.base} does not exist {hint}")
    if not Path(spec.motion_adapter).is_dir():
        raise ModelUnavailable(f"model folder {spec.motion_adapter} does not exist {hint}")


def load_image_pipeline(spec: ModelSpec, dtype: torch.dtype) -> StableDiffusionPipeline:
    """The base image model alone (what likeness training fine-tunes), from a folder or a checkpoint."""
    from diffusers import StableDiffusionPipeline
    from diffusers.loaders.single_file_utils import SingleFileComponentError
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    _check_present(spec)
    options = {"local_files_only": True, "safety_checker": None, "requires_safety_checker": False, "dtype": dtype}
    try:
        if spec.single_file:
            pipe = StableDiffusionPipeline.from_single_file(str(spec.base), config=str(spec.config), **options)
        else:
            pipe = StableDiffusionPipeline.from_pretrained(spec.base, **options)
    except (OSError, ValueError, SingleFileComponentError) as exc:
        raise ModelUnavailable(f"cannot load the model from {spec.base}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _load(spec: ModelSpec, dtype: torch.dtype) -> AnimateDiffPipeline:
    from diffusers import AnimateDiffPipeline, MotionAdapter

    adapter = MotionAdapter.from_pretrained(spec.motion_adapter, local_files_only=True, dtype=dtype)
    return AnimateDiffPipeline.from_pipe(load_image_pipeline(spec, dtype), motion_adapter=adapter)


def load_video_pipeline(spec: ModelSpec) -> LoadedModel:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    _check_present(spec)
    if spec.threads:
        torch.set_num_threads(spec.threads)
    device, dtype = resolve_device(spec.device)
    try:
        pipe = _load(spec, dtype)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot load the motion adapter {spec.motion_adapter}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    pipe.to(device)
    accelerate(pipe, device=device, compile=spec.compile)
    return LoadedModel(family=spec.family, pipe=pipe, device=device, model_sha256=model_fingerprint(spec))


class PipelineCache:
    """Keeps the loaded model (each family's spec loads its own) for the life of the (forked) worker process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spec: Any = None
        self._loaded: LoadedModel | None = None

    def get(self, spec: Any) -> LoadedModel:
        """`spec`: a family's spec (ModelSpec, WanSpec), which loads its model."""
        with self._lock:
            if self._loaded is None or self._spec != spec:
                self._loaded = None
                self._loaded = spec.load()
                self._spec = spec
            return self._loaded

    def clear(self) -> None:
        with self._lock:
            self._spec = None
            self._loaded = None


pipeline_cache = PipelineCache()
