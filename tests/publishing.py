"""A render ready to publish, without running the pipeline: a running job and a small
signed file, for tests of publication's locks and races."""

from __future__ import annotations

import uuid
from pathlib import Path

from generation.models import RenderJob
from generation.services import render
from tests.conftest import SMALL_RENDER

PROMPT = "sks person walking along a beach at sunset"


def signed_clip(directory: Path, *, license_id: str) -> object:
    """One small labelled, watermarked and signed clip (a provenance.SignedOutput),
    publishable any number of times: each publication gives it a new output id."""
    import numpy as np

    from generation.pipeline.video import encode_mp4
    from provenance import services as provenance

    directory.mkdir(parents=True, exist_ok=True)
    frames, label = provenance.disclosure_apply(np.full((4, 128, 128, 3), 90, dtype=np.uint8))
    marked, binding = provenance.watermark_apply(frames, watermark_id=7, fps=4)
    encode_mp4(marked, directory / "plain.mp4", fps=4)
    signed = provenance.output_sign(src=directory / "plain.mp4", dst=directory / "signed.mp4",
                                    output_id=str(uuid.uuid4()), license_id=license_id, model_sha256="0" * 64,
                                    likeness_model_sha256=None, label=label, watermark_binding=binding)
    return signed


def running_job(*, license_id: str, producer: object, worker: str = "w1") -> RenderJob:
    """A render requested under the license and claimed by a worker."""
    job = render.render_job_request(license_id=license_id, prompt=PROMPT, params=SMALL_RENDER, acting_user=producer)
    claimed = render.render_job_claim(job_id=str(job.id), worker=worker)
    assert claimed is not None, "the claim was refused"
    return claimed


def publish(job: RenderJob, clip: object) -> object:
    """Publish the clip as the job's output; the RenderOutput, or None when refused. Each
    output gets a watermark id of its own, as a render would (not the one in the clip)."""
    from generation.services.render import watermark_id_new

    return render.render_job_publish(job_id=str(job.id), attempt=job.attempt, output_id=str(uuid.uuid4()),
                                     signed=clip, model_sha256="0" * 64, disclosure={},
                                     watermark_id=watermark_id_new())
