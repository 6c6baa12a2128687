"""A still of a published output, made on request and never stored: a clip's first frame,
decoded with PyAV, or a keyframe's image, scaled down as a JPEG (a stored copy would be one
more file of the talent's likeness to track, export and erase).

A thumbnail is an image of the likeness like any other output, so it leaves labelled, marked
and signed: the visible disclosure is burned in again at its size (the frame's own label,
scaled down, would be too small to read), the output's watermark id is embedded at its size
with the layers of the output it shows (a clip's two, a keyframe's tile; the frame's own
tile, taken out first, would survive the scaling at another period and blur the reading of
the new one), and a C2PA manifest names the output it
shows, under that output's licenses and models, time-stamped as any manifest is."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

import numpy as np
from django.conf import settings
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
    image, from_clip = _first_image(output)
    frames = np.asarray(_scaled(_without_its_tile(image, output.watermark_id), max_side=max_side))[None]
    labelled, label = provenance.disclosure_apply(frames)
    layers = watermark.CLIP_ALGORITHMS if from_clip else watermark.STILL_ALGORITHMS
    marked, binding = provenance.watermark_apply(labelled, watermark_id=output.watermark_id, fps=1, algorithms=layers)
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


def _without_its_tile(image: Image.Image, watermark_id: int) -> Image.Image:
    """The frame without its own watermark tile, which the thumbnail's, at another period, would compete with."""
    frame = np.asarray(image)  # RGB, as _first_image returns it
    if min(frame.shape[:2]) < watermark.MIN_SIDE:
        return image
    key = settings.BESPOKE_WATERMARK_KEY
    return Image.fromarray(watermark.watermark_tile_removed(frame[None], watermark_id, key=key)[0])


def _scaled(image: Image.Image, *, max_side: int) -> Image.Image:
    width, height = image.size
    scale = min(1.0, max(max_side / max(width, height), watermark.MIN_SIDE / min(width, height)))
    if scale == 1.0:
        return image
    return image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS)


def _first_image(output: RenderOutput) -> tuple[Image.Image, bool]:
    """The output's image (a keyframe's) or its first frame (a clip's), and whether it came from a clip."""
    if output.watermark_id is None or not output.compliance.get("consent"):
        raise ThumbnailUnavailable("the output carries no watermark id or consent record to sign a still under")
    if PurePosixPath(output.file.name).suffix.lower() == ".png":
        try:
            with default_storage.open(output.file.name, "rb") as handle, Image.open(handle) as image:
                return image.convert("RGB"), False
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise ThumbnailUnavailable(str(error)) from error
    import av

    try:
        with default_storage.open(output.file.name, "rb") as handle, av.open(handle, mode="r") as container:
            return next(container.decode(video=0)).to_image().convert("RGB"), True
    except (av.FFmpegError, StopIteration, OSError, ValueError) as error:
        raise ThumbnailUnavailable(str(error)) from error
