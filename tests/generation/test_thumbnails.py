"""The still of a published output that Alice's "my likeness" page shows leaves labelled,
watermarked and signed: it verifies as trusted with a trusted time-stamp, names the output it
shows and the license behind it, carries the layers of the mark its output carries (a clip's
two, a keyframe's tile), and a copy stripped of its manifest is traced by its mark."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from c2pa import Reader
from PIL import Image

from generation.models import RenderOutput
from generation.services import render
from generation.thumbnails import THUMBNAIL_MAX_SIDE, output_thumbnail_jpeg
from generation.tracing import media_verify
from provenance import watermark
from tests.conftest import make_license

pytestmark = pytest.mark.django_db

CLIP = {"num_frames": 4, "width": 384, "height": 256, "steps": 2, "fps": 4}


def _soft_binding_algorithms(path: Path) -> list[str]:
    with path.open("rb") as stream, Reader("image/jpeg", stream) as reader:
        store = json.loads(reader.json())
    return [a["data"]["alg"] for a in store["manifests"][store["active_manifest"]]["assertions"]
            if a["label"] == "c2pa.soft-binding"]


def _published(license, producer) -> RenderOutput:  # type: ignore[no-untyped-def]
    job = render.render_job_request(license_id=str(license.id), prompt="sks person walking", params=CLIP,
                                    acting_user=producer)
    render.render_job_execute(job_id=str(job.id), worker="w1")
    return RenderOutput.objects.get(job=job)


def test_a_thumbnail_is_a_labelled_marked_signed_still_of_its_output(personas, tiny_model, tmp_path, settings):
    license = make_license(personas)
    output = _published(license, personas.bob)

    jpeg = output_thumbnail_jpeg(output=output)
    still = Image.open(io.BytesIO(jpeg))
    assert still.format == "JPEG" and still.size == (THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE * 256 // 384)
    path = tmp_path / "thumbnail.jpg"
    path.write_bytes(jpeg)

    verified = media_verify(path=path)
    manifest = verified.manifest
    assert manifest.is_trusted, manifest.failures
    assert manifest.output_id == str(output.id) and manifest.consent.license_id == str(license.id)
    assert manifest.watermark_id == output.watermark_id
    assert manifest.time_stamp is not None and manifest.time_stamp.state == "trusted"
    assert manifest.title == f"{output.id}-thumbnail.jpg" and manifest.disclosure["text"]
    assert _soft_binding_algorithms(path) == list(watermark.CLIP_ALGORITHMS)
    assert verified.consent.state == "active"

    frame = np.asarray(still.convert("RGB"))
    reading = watermark.watermark_read(frame[None], key=settings.BESPOKE_WATERMARK_KEY)
    assert reading is not None and reading.watermark_id == output.watermark_id

    stripped = tmp_path / "screenshot.png"
    Image.fromarray(frame).save(stripped, format="PNG")
    traced = media_verify(path=stripped)
    assert traced.manifest.state == "no_manifest"
    assert traced.trace is not None and traced.trace.output_id == str(output.id)
    assert traced.consent.license_id == str(license.id)


def test_a_keyframe_s_thumbnail_is_signed_too(personas, tiny_model, tmp_path):
    license = make_license(personas)
    job = render.render_job_request(license_id=str(license.id), prompt="sks person standing", acting_user=personas.bob,
                                    params={"width": 128, "height": 128, "steps": 2, "keyframe": True})
    render.render_job_execute(job_id=str(job.id), worker="w1")
    output = RenderOutput.objects.get(job=job)
    path = tmp_path / "keyframe-thumbnail.jpg"
    path.write_bytes(output_thumbnail_jpeg(output=output))
    manifest = media_verify(path=Path(path)).manifest
    assert manifest.is_trusted and manifest.output_id == str(output.id)
    assert _soft_binding_algorithms(path) == list(watermark.STILL_ALGORITHMS)
    assert Image.open(path).size == (128, 128), "never enlarged"
