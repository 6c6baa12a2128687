"""`manage.py verify_media`: trusted, tampered, unsigned and unreadable files, and live consent status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from consent import services as consent
from generation.services import render as services
from generation.pipeline.video import encode_mp4
from tests.conftest import SMALL_RENDER

pytestmark = pytest.mark.django_db


@pytest.fixture
def published_clip(personas, active_license, tiny_model, tmp_path) -> Path:
    job = services.render_job_request(license_id=str(active_license.id), prompt="sks person reading a book",
                                      params=SMALL_RENDER, acting_user=personas.bob)
    job = services.render_job_execute(job_id=str(job.id), worker="w1")
    clip = tmp_path / "clip.mp4"
    shutil.copy(default_storage.path(job.output.file.name), clip)
    return clip


def _run(path: Path, *extra: str) -> tuple[int, str]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_media", str(path), *extra, stdout=out)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code)
    except CommandError as error:
        code = error.returncode
        out.write(str(error))
    return code, out.getvalue()


def test_a_published_clip_is_trusted_and_its_consent_active(published_clip):
    code, text = _run(published_clip, "--json")
    report = json.loads(text)
    assert code == 0
    assert report["manifest"]["state"] == "trusted"
    assert report["manifest"]["digital_source_type"].endswith("trainedAlgorithmicMedia")
    assert report["consent"]["state"] == "active"


def test_after_revocation_the_same_clip_reports_the_consent_revoked(published_clip, personas, active_license):
    consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    code, text = _run(published_clip)
    assert code == 0 and "is revoked since" in text


def test_a_flipped_byte_makes_the_clip_invalid(published_clip):
    data = bytearray(published_clip.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 64] ^= 0xFF
    published_clip.write_bytes(bytes(data))
    code, text = _run(published_clip)
    assert code == 1
    assert "manifest invalid" in text and "mismatch" in text


def test_an_unsigned_clip_is_reported_as_having_no_manifest(tmp_path):
    clip = tmp_path / "plain.mp4"
    encode_mp4(np.zeros((4, 64, 64, 3), dtype=np.uint8), clip, fps=4)
    code, text = _run(clip)
    assert code == 2 and "no C2PA manifest" in text


def test_a_file_that_is_not_media_is_a_clear_error(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    code, text = _run(fake)
    assert code == 3 and "cannot be read as media" in text
    assert _run(tmp_path / "missing.mp4")[0] == 3


def test_a_manifest_signed_by_someone_else_cannot_borrow_a_licenses_status(active_license, tmp_path,
                                                                          tmp_path_factory, settings):
    from provenance.c2pa_io import sign_file
    from provenance.labels import burn_disclosure
    from provenance.manifest import ConsentReference, GeneratorInfo, build_manifest
    from provenance.pki import create_dev_pki, load_signing_material
    from provenance.signing import LocalKeySigner

    frames, label = burn_disclosure(np.random.default_rng(1).integers(0, 256, (4, 128, 128, 3), dtype=np.uint8))
    plain, forged = tmp_path / "plain.mp4", tmp_path / "forged.mp4"
    encode_mp4(frames, plain, fps=4)
    manifest = build_manifest(
        title="forged.mp4", output_id="not-ours", label=label, claim_generator_version="1",
        consent=ConsentReference(str(active_license.id), active_license.text_sha256, "https://example.org/status"),
        generator=GeneratorInfo(name="elsewhere", version="1", model_sha256="0" * 64))
    stranger = create_dev_pki(tmp_path_factory.mktemp("stranger") / "pki")
    sign_file(src=plain, dst=forged, manifest=manifest, signer=LocalKeySigner(load_signing_material(stranger.directory)))

    code, text = _run(forged, "--json")
    report = json.loads(text)
    assert code == 1 and report["manifest"]["state"] == "valid"
    assert report["consent"] is None and report["trace"] is None


def _run_several(*paths: Path, extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("verify_media", *map(str, paths), *extra, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code)
    return code, out.getvalue(), err.getvalue()


def test_several_files_are_each_reported_and_the_exit_status_is_the_worst(published_clip, tmp_path):
    """The README's `verify_media demo-out/*.mp4`: the demo writes more than one clip."""
    copy = tmp_path / "copy.mp4"
    shutil.copy(published_clip, copy)
    assert _run_several(published_clip, copy)[0] == 0
    plain = tmp_path / "plain.mp4"
    encode_mp4(np.zeros((4, 64, 64, 3), dtype=np.uint8), plain, fps=4)
    code, text, _ = _run_several(published_clip, plain)
    assert code == 2
    assert f"{published_clip}: manifest trusted" in text and f"{plain}: no C2PA manifest" in text
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    code, text, errors = _run_several(fake, published_clip, plain)
    assert code == 3 and "cannot be read as media" in errors and f"{published_clip}: manifest trusted" in text


def test_several_files_as_json_are_a_list_of_reports_each_naming_its_file(published_clip, tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    code, text, _ = _run_several(published_clip, fake, extra=("--json",))
    reports = json.loads(text)
    assert code == 3 and [report["file"] for report in reports] == [str(published_clip), str(fake)]
    assert reports[0]["manifest"]["state"] == "trusted" and reports[0]["consent"]["state"] == "active"
    assert "cannot be read as media" in reports[1]["error"]
