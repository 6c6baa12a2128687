"""The public verify page bounds its work and never shows a server path.

A file is refused ("too large to check here") from its header when its frames are too
large, and while it is decoded when its stream turns out larger than its header says or
its decoded pixels pass the budget; the work done is counted and asserted on, never the
time. A real output still verifies, and a copy is traced at reduced resolution.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from bench.verify_hostile import black_h264_mp4, garbage_mp4, many_boxes_mp4, with_unknown_codec
from generation.pipeline.video import decode_mp4, encode_mp4
from generation.services import render as services
from generation.tracing import media_verify
from provenance.verify_bounds import TooLargeToCheck, VerifyBudget

pytestmark = pytest.mark.django_db

TRACEABLE_RENDER = {"num_frames": 8, "width": 256, "height": 256, "steps": 3, "fps": 8}


@pytest.fixture
def published(personas, active_license, tiny_model, tmp_path):  # type: ignore[no-untyped-def]
    job = services.render_job_request(license_id=str(active_license.id), prompt="sks person reading a book",
                                      params=TRACEABLE_RENDER, acting_user=personas.bob)
    job = services.render_job_execute(job_id=str(job.id), worker="w1")
    clip = tmp_path / "clip.mp4"
    shutil.copy(default_storage.path(job.output.file.name), clip)
    return job.output, clip


def _refusal(path: Path, budget: VerifyBudget | None = None) -> TooLargeToCheck:
    with pytest.raises(TooLargeToCheck) as refused:
        media_verify(path=path, budget=budget)
    return refused.value


def test_the_reported_file_is_refused_from_its_header_without_decoding_a_frame(tmp_path):
    clip = black_h264_mp4(tmp_path / "huge.mp4", side=8192, frames=64)  # 64 black 8192x8192 frames, 200 KB

    refusal = _refusal(clip)

    assert refusal.reason == "frame_pixels"
    assert refusal.work.packets_decoded == 0 and refusal.work.frames_decoded == 0
    assert refusal.work.pixels_decoded == 0


def test_the_page_answers_too_large_to_check_here(client, empty_cache, tmp_path):
    clip = black_h264_mp4(tmp_path / "huge.mp4", side=8192, frames=64)

    response = client.post("/verify/", {"file": clip.open("rb")})

    assert response.status_code == 413
    assert "too large to check here" in response.content.decode()


def test_a_stream_larger_than_its_header_is_stopped_at_its_first_large_frame(tmp_path):
    # The header and first frame say 256x256; every later frame carries an 8192x8192 sequence header.
    clip = black_h264_mp4(tmp_path / "bomb.mp4", side=8192, header_side=256, frames=64)

    refusal = _refusal(clip)

    assert refusal.reason == "frame_pixels"
    assert refusal.work.frames_decoded <= 1 and refusal.work.pixels_decoded <= 256 * 256
    assert refusal.work.packets_decoded <= 2


def test_decoded_pixels_are_counted_and_decoding_stops_at_the_budget(tmp_path):
    clip = black_h264_mp4(tmp_path / "growing.mp4", side=1024, header_side=256, frames=64)
    budget = VerifyBudget(max_pixels=4_000_000, min_frames=1)  # the header plans 16 frames of 256x256

    refusal = _refusal(clip, budget)

    assert refusal.reason == "pixels"
    assert 4_000_000 < refusal.work.pixels_decoded <= 4_000_000 + 1024 * 1024
    assert refusal.work.frames_decoded <= 5


def test_a_file_of_many_tiny_boxes_is_refused_before_a_parser_reads_it(tmp_path):
    clip = many_boxes_mp4(tmp_path / "boxes.mp4", count=20_000)

    refusal = _refusal(clip)

    assert refusal.reason == "boxes" and refusal.work.manifest_bytes_read == 0


def test_past_the_deadline_nothing_more_is_read(tmp_path):
    clip = black_h264_mp4(tmp_path / "plain.mp4", side=256, frames=16)

    refusal = _refusal(clip, VerifyBudget(seconds=0.0))

    assert refusal.reason == "time" and refusal.work.frames_decoded == 0


def test_a_video_no_decoder_knows_is_answered_without_a_trace(tmp_path):
    clip = with_unknown_codec(black_h264_mp4(tmp_path / "plain.mp4", side=256, frames=4), tmp_path / "unknown.mp4")

    result = media_verify(path=clip)

    assert result.manifest.state == "no_manifest" and result.trace is None
    assert result.work is not None and result.work.frames_decoded == 0


def test_a_real_output_verifies_and_its_scaled_up_copy_is_traced_at_reduced_resolution(published, tmp_path):
    output, clip = published

    result = media_verify(path=clip)

    assert result.manifest.is_trusted and result.manifest.watermark_id == output.watermark_id
    assert result.consent is not None and result.consent.state == "active"
    assert result.work is not None and result.work.frames_decoded == 0, "a trusted manifest needs no decoding"

    frames = decode_mp4(clip)
    large = np.stack([np.asarray(Image.fromarray(f).resize((1024, 1024), Image.LANCZOS)) for f in frames])
    copy = tmp_path / "copy-1024.mp4"
    encode_mp4(large, copy, fps=8, crf=23)

    traced = media_verify(path=copy)

    assert traced.manifest.state == "no_manifest"
    assert traced.trace is not None and traced.trace.watermark_id == output.watermark_id
    assert (traced.work.read_width, traced.work.read_height) == (512, 512)
    assert traced.work.frames_decoded == len(frames) <= 16


def test_a_codec_that_can_decode_at_reduced_resolution_does(published, tmp_path):
    import av

    output, clip = published
    frames = decode_mp4(clip)
    copy = tmp_path / "copy-mpeg4.mp4"
    with av.open(str(copy), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt, stream.bit_rate = 1024, 1024, "yuv420p", 20_000_000
        for frame in frames:
            large = np.asarray(Image.fromarray(frame).resize((1024, 1024), Image.LANCZOS))
            for packet in stream.encode(av.VideoFrame.from_ndarray(large, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

    traced = media_verify(path=copy)

    assert (traced.work.decoded_width, traced.work.decoded_height) == (512, 512), "decoded at half size"
    assert traced.work.pixels_decoded == len(frames) * 512 * 512
    assert traced.trace is not None and traced.trace.watermark_id == output.watermark_id


@pytest.mark.parametrize("name, data", [
    ("garbage.mp4", None),
    ("garbage.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40),
    ("garbage.png", b"\x89PNG\r\n\x1a\n" + b"\0\0\0\x0dIHDR" + bytes(range(256)) * 40),
])
def test_an_unreadable_upload_gets_a_fixed_message_that_names_no_server_path(client, empty_cache, tmp_path,
                                                                            name, data):
    upload = tmp_path / name
    if data is None:
        garbage_mp4(upload, size=10_000)
    else:
        upload.write_bytes(data)

    response = client.post("/verify/", {"file": upload.open("rb")})

    page = response.content.decode()
    assert response.status_code == 400
    assert "could not be read" in page
    for leak in ("/tmp", tempfile.gettempdir(), "bespoke-verify-", "upload.", str(tmp_path), "C2pa", "asset"):
        assert leak not in page
