"""Every file on a real S3-compatible object store (SeaweedFS), with real celery workers:
outputs, sealed photos and likeness models go to the bucket, never to MEDIA_ROOT; large
files are uploaded streamed; downloads are pre-signed URLs the store answers itself."""

from __future__ import annotations

import time
import tracemalloc
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from bespoke.synthetic_faces import synthetic_face_photos
from consent import services as consent
from consent.likeness import likeness_model_weights
from consent.models import LikenessModel, ReferencePhoto
from generation.models import RenderJob, RenderOutput, TrainingJob
from generation.services import render as services
from generation.services import training
from generation.tracing import media_verify
from tests.conftest import SMALL_RENDER, make_license
from tests.generation.test_jobs import _signed_output

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROMPT = "sks person walking through a market at dusk"
SAFETENSORS_HEADER_MARK = b'"data_offsets"'
FIFTY_MB = 50 * 1024 * 1024


def _wait(job, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if job.status in type(job).TERMINAL:
            return job
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {job.status}"
        time.sleep(0.1)


def _media_root_files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as answer:
        return answer.status, dict(answer.headers), answer.read()


@pytest.mark.parametrize("where", ["filesystem", "object store"])
def test_a_50_mb_output_is_stored_streamed_not_held_in_memory(where, request, settings, tmp_path):
    if where == "object store":
        media = request.getfixturevalue("s3_media")
    big = tmp_path / "signed.mp4"
    with big.open("wb") as handle:
        for index in range(50):
            handle.write(bytes([index]) * (1024 * 1024))
    default_storage.delete(default_storage.save("warm-up", ContentFile(b"x")))  # the S3 client's models load once

    tracemalloc.start()
    try:
        name = services._store_output(job=SimpleNamespace(id="job"), output_id="big", signed=SimpleNamespace(path=big))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < FIFTY_MB / 3, f"storing held {peak / 2**20:.1f} MiB"
    assert default_storage.size(name) == FIFTY_MB
    with default_storage.open(name, "rb") as stored:
        stored.seek(FIFTY_MB - 3)
        assert stored.read() == bytes([49]) * 3
    if where == "object store":
        assert media.keys() == [name]
        assert not _media_root_files(settings)


def test_the_render_path_keeps_every_file_on_the_object_store(personas, start_worker, s3_media, settings, client,
                                                               tmp_path):
    license = make_license(personas, requires_use_approval=True)
    start_worker("solo")
    job = services.render_job_request(license_id=str(license.id), prompt=PROMPT, params=SMALL_RENDER,
                                      acting_user=personas.bob)
    services.render_job_decide(job=job, approve=True, reason="", acting_user=personas.alice)
    job = _wait(job, 180, "the render")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    output = RenderOutput.objects.get(job=job)
    assert s3_media.keys() == [output.file.name]
    assert not _media_root_files(settings), "nothing may be written to this host's media folder"

    client.force_login(personas.bob)
    answer = client.get(reverse("portal-render-download", args=[job.id]))
    assert answer.status_code == 302 and answer["Cache-Control"] == "no-store"
    status, headers, body = _fetch(answer["Location"])
    assert status == 200 and len(body) == output.size_bytes
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Content-Disposition"] == f'attachment; filename="{output.id}.mp4"'
    downloaded = tmp_path / "downloaded.mp4"
    downloaded.write_bytes(body)
    verification = media_verify(path=downloaded)
    assert verification.manifest.state == "trusted" and verification.manifest.output_id == str(output.id)
    status, headers, part = _fetch(answer["Location"], {"Range": "bytes=100-199"})
    assert status == 206 and part == body[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(body)}"

    client.force_login(personas.alice)
    thumbnail = client.get(reverse("portal-likeness-thumbnail", args=[output.id]))
    assert thumbnail.status_code == 200 and thumbnail.content.startswith(b"\xff\xd8")
    client.force_login(personas.charlie)
    assert client.get(reverse("portal-render-download", args=[job.id])).status_code == 404


def test_the_likeness_training_path_seals_photos_and_the_model_in_the_bucket(personas, start_worker, s3_media,
                                                                             settings):
    license = make_license(personas, excluded=(), allows_likeness_model=True)
    for data in synthetic_face_photos(4):
        consent.reference_photo_add(talent=personas.talent, data=data, filename="portrait.jpg",
                                    acting_user=personas.alice)
    photo_names = sorted(ReferencePhoto.objects.values_list("stored_name", flat=True))
    assert len(photo_names) == 4 and set(photo_names) <= set(s3_media.keys())
    assert all(not s3_media.read(name).startswith(b"\x89PNG") for name in photo_names), "sealed, not plain"

    start_worker("solo")
    job = training.training_job_request(license_id=str(license.id), acting_user=personas.bob,
                                        params={"steps": 20, "num_class_images": 2})
    job = _wait(job, 300, "the training")
    assert job.status == TrainingJob.Status.SUCCEEDED, job.outcome_message
    model = LikenessModel.objects.get(pk=job.likeness_model_id)
    assert model.stored_name in s3_media.keys()
    assert SAFETENSORS_HEADER_MARK not in s3_media.read(model.stored_name)
    assert SAFETENSORS_HEADER_MARK in likeness_model_weights(model_id=str(model.id)).weights

    render = services.render_job_request(license_id=str(license.id), prompt="sks person waving", params=SMALL_RENDER,
                                         likeness_model_id=str(model.id), acting_user=personas.bob)
    render = _wait(render, 180, "the render with the likeness model")
    assert render.status == RenderJob.Status.SUCCEEDED, render.outcome_message
    assert RenderOutput.objects.get(job=render).file.name in s3_media.keys()
    assert not _media_root_files(settings)


def test_a_publication_refused_at_the_last_gate_check_leaves_no_object(personas, active_license, tiny_model, s3_media,
                                                                       settings, tmp_path):
    job = services.render_job_request(license_id=str(active_license.id), prompt=PROMPT, params=SMALL_RENDER,
                                      acting_user=personas.bob)
    claimed = services.render_job_claim(job_id=str(job.id), worker="w1")
    output_id, signed, watermark_id = _signed_output(tmp=tmp_path / "work", license=active_license)
    consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)

    result = services.render_job_publish(job_id=str(job.id), attempt=claimed.attempt, output_id=output_id,
                                         signed=signed, model_sha256="0" * 64, disclosure={},
                                         watermark_id=watermark_id)

    job.refresh_from_db()
    assert result is None and (job.status, job.outcome_code) == (RenderJob.Status.CANCELLED, "license_revoked")
    assert s3_media.keys() == [] and not RenderOutput.objects.exists()
