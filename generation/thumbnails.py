"""A still of a published output, made on request and never stored: a clip's first frame,
decoded with PyAV, or a keyframe's image, scaled down as a JPEG (a stored copy would be one
more file of the talent's likeness to track, export and erase).

A thumbnail is an image of the likeness like any other output, so it leaves labelled, marked
and signed: the visible disclosure is burned in again at its size (the frame's own label,
scaled down, would be too small to read), the output's watermark id is embedded at its size
(the frame's own mark does not survive the scaling), and a C2PA manifest names the output it
shows, under that output's licenses and models, time-stamped as any manifest is."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image, UnidentifiedImageError

from generation.models import RenderOutput
from provenance import services as provenance
from provenance import watermark

THUMBNAIL_MAX_SIDE = 320  # shown at 80-160 px; twice that for dense screens
THUMBNAIL_JPEG_QUALITY = 90


class ThumbnailUnavailable(Exception):
    """The output's file is gone or does not decode."""


def output_thumbnail_jpeg(*, output: RenderOutput, max_side: int = THUMBNAIL_MAX_SIDE) -> bytes:
    """The output's first frame at most ``max_side`` px long (never below the watermark's smallest
    side, never enlarged), labelled, watermarked and signed as a JPEG."""
    image = _first_image(output)
    frames = np.asarray(_scaled(image, max_side=max_side))[None]
    labelled, label = provenance.disclosure_apply(frames)
    marked, binding = provenance.watermark_apply(labelled, watermark_id=output.watermark_id, fps=1)
    models = output.compliance.get("models", {})
    consents = output.compliance.get("consents") or [output.compliance["consent"]]
    with tempfile.TemporaryDirectory(prefix=f"bespoke-thumbnail-{output.id}-") as workdir:
        unsigned, signed_path = Path(workdir) / "unsigned.jpg", Path(workdir) / f"{output.id}-thumbnail.jpg"
        Image.fromarray(marked[0]).save(unsigned, format="JPEG", quality=THUMBNAIL_JPEG_QUALITY)
        signed = provenance.output_sign(
            src=unsigned, dst=signed_path, output_id=str(output.id), thumbnail=True,
            license_id=consents[0]["license_id"], license_ids=[consent["license_id"] for consent in consents[1:]],
            model_sha256=output.model_sha256, likeness_model_sha256=models.get("likeness_model_sha256"),
            likeness_model_sha256s=models.get("likeness_model_sha256s", ()), label=label, watermark_binding=binding)
        return signed.path.read_bytes()


def _scaled(image: Image.Image, *, max_side: int) -> Image.Image:
    width, height = image.size
    scale = min(1.0, max(max_side / max(width, height), watermark.MIN_SIDE / min(width, height)))
    if scale == 1.0:
        return image
    return image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS)


def _first_image(output: RenderOutput) -> Image.Image:
    if output.watermark_id is None or not output.compliance.get("consent"):
        raise ThumbnailUnavailable("the output carries no watermark id or consent record to sign a still under")
    if PurePosixPath(output.file.name).suffix.lower() == ".png":
        try:
            with default_storage.open(output.file.name, "rb") as handle, Image.open(handle) as image:
                return image.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise ThumbnailUnavailable(str(error)) from error
    import av

    try:
        with default_storage.open(output.file.name, "rb") as handle, av.open(handle, mode="r") as container:
            return next(container.decode(video=0)).to_image().convert("RGB")
    except (av.FFmpegError, StopIteration, OSError, ValueError) as error:
        raise ThumbnailUnavailable(str(error)) from error
