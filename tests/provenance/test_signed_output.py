"""Signing an output hashes it as it is written and validates what was signed without
reading the file back: the hash is the published file's, the validation is the one a full
read gives, and a store the file does not carry is never taken on its word."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from generation.pipeline.video import encode_mp4
from provenance import c2pa_io
from provenance import services as provenance
from provenance.c2pa_io import SigningError, read_file, read_signed, sign_file
from provenance.hashing_writer import HashingWriter
from provenance.labels import burn_disclosure
from provenance.manifest import ConsentReference, GeneratorInfo, build_manifest
from provenance.pki import create_dev_pki, load_signing_material, load_trust_anchor
from provenance.signing import LocalKeySigner

CONSENT = ConsentReference(license_id="lic-1", license_text_sha256=hashlib.sha256(b"terms").hexdigest(),
                           status_url="https://bespoke.example/licenses/lic-1/status")
GENERATOR = GeneratorInfo(name="Bespoke generator", version="0.1.0", model_sha256="0" * 64)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(output_id: str) -> dict:
    _, label = burn_disclosure(np.zeros((1, 64, 64, 3), dtype=np.uint8))
    return build_manifest(title=f"{output_id}.mp4", output_id=output_id, consent=CONSENT, generator=GENERATOR,
                          label=label, claim_generator_version="0.1.0")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_dev_pki(tmp_path_factory.mktemp("pki") / "dev").directory


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = np.random.default_rng(3).integers(0, 256, (6, 96, 96, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("media") / "plain.mp4"
    encode_mp4(burn_disclosure(frames)[0], path, fps=8)
    return path


@pytest.fixture
def large_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files beyond the in-memory size: the test clip then takes the large-file path."""
    monkeypatch.setattr(c2pa_io, "IN_MEMORY_VALIDATION_BYTES", 4096)


def _sign(clip: Path, dst: Path, pki: Path, output_id: str = "out-1") -> c2pa_io.SignedAsset:
    return sign_file(src=clip, dst=dst, manifest=_manifest(output_id), signer=LocalKeySigner(load_signing_material(pki)))


@pytest.mark.parametrize("size", ["small", "large"])
def test_the_hash_taken_while_writing_is_the_signed_files(clip, pki, tmp_path, monkeypatch, size):
    if size == "large":
        monkeypatch.setattr(c2pa_io, "IN_MEMORY_VALIDATION_BYTES", 4096)
    signed = _sign(clip, tmp_path / "signed.mp4", pki)

    assert signed.written.sha256 == _sha256(signed.path)
    assert signed.written.size_bytes == signed.path.stat().st_size
    assert signed.written.head_is_whole is (size == "small")


@pytest.mark.parametrize("size", ["small", "large"])
def test_validating_what_was_signed_reports_what_a_full_read_reports(clip, pki, tmp_path, monkeypatch, size):
    if size == "large":
        monkeypatch.setattr(c2pa_io, "IN_MEMORY_VALIDATION_BYTES", 4096)
    signed = _sign(clip, tmp_path / "signed.mp4", pki)
    anchor = load_trust_anchor(pki)

    report = read_signed(signed, trust_anchor_pem=anchor)

    assert report.is_trusted and report.output_id == "out-1" and report.consents == (CONSENT,)
    assert report.as_dict() == read_file(signed.path, trust_anchor_pem=anchor).as_dict()


def test_a_store_from_an_untrusted_signer_is_not_trusted_without_the_file(clip, pki, tmp_path, large_files):
    stranger = create_dev_pki(tmp_path / "stranger").directory
    signed = _sign(clip, tmp_path / "signed.mp4", stranger)

    report = read_signed(signed, trust_anchor_pem=load_trust_anchor(pki))

    assert report.state == "valid" and not report.is_trusted
    assert report.failures == ("signingCredential.untrusted",)


def test_a_store_the_file_does_not_carry_is_not_taken_on_its_word(clip, pki, tmp_path, large_files):
    mine = _sign(clip, tmp_path / "mine.mp4", pki, output_id="out-mine")
    other = _sign(clip, tmp_path / "other.mp4", pki, output_id="out-other")
    claimed = c2pa_io.SignedAsset(path=mine.path, mime_type=mine.mime_type, manifest_store=other.manifest_store,
                                  written=mine.written)

    report = read_signed(claimed, trust_anchor_pem=load_trust_anchor(pki))

    assert report.output_id == "out-mine"  # the file was read: its own manifest, not the claimed store


@pytest.mark.parametrize("seek_to, size", [(10, 5000), (6000, 6010)], ids=["back-over-written-bytes", "past-the-end"])
def test_writes_anywhere_but_the_end_leave_no_hash_to_trust(tmp_path, seek_to, size):
    with open(tmp_path / "out.bin", "w+b") as raw:
        writer = HashingWriter(raw, head_limit=1 << 20)
        writer.write(b"a" * 5000)
        writer.seek(seek_to)
        writer.write(b"b" * 10)

        written = writer.finish()

    assert written.sha256 is None and written.head == b"" and not written.head_is_whole
    assert written.size_bytes == size


def test_seeking_back_to_read_then_writing_at_the_end_keeps_the_hash(tmp_path):
    with open(tmp_path / "out.bin", "w+b") as raw:
        writer = HashingWriter(raw, head_limit=1 << 20)
        writer.write(b"a" * 5000)
        writer.seek(0)
        assert writer.read(10) == b"a" * 10
        writer.seek(0, 2)
        writer.write(b"b" * 10)

        written = writer.finish()

    assert written.sha256 == hashlib.sha256(b"a" * 5000 + b"b" * 10).hexdigest() and written.head_is_whole


def test_forward_writes_are_hashed_while_the_file_grows_and_the_head_is_kept(tmp_path):
    path = tmp_path / "out.bin"
    chunks = [bytes([n % 251]) * 300_000 for n in range(8)]
    with open(path, "w+b") as raw:
        writer = HashingWriter(raw, head_limit=100)
        for chunk in chunks:
            writer.write(chunk)
            time.sleep(0.005)  # the helper thread hashes some of the file before it is finished

        written = writer.finish()

    whole = b"".join(chunks)
    assert written.sha256 == hashlib.sha256(whole).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert written.head == whole[:100] and written.size_bytes == len(whole)


def test_abandoning_stops_the_helper_thread(tmp_path):
    with open(tmp_path / "out.bin", "w+b") as raw:
        writer = HashingWriter(raw, head_limit=100)
        writer.write(b"a" * 10)
        writer.abandon()

    assert "signed-output-hash" not in {thread.name for thread in threading.enumerate()}


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["small", "large"])
def test_a_signed_output_carries_the_hash_and_size_of_its_file(settings, active_license, tmp_path, monkeypatch,
                                                               size):
    if size == "large":
        monkeypatch.setattr(c2pa_io, "IN_MEMORY_VALIDATION_BYTES", 4096)
    frames, label = provenance.disclosure_apply(np.full((4, 128, 128, 3), 90, dtype=np.uint8))
    marked, binding = provenance.watermark_apply(frames, watermark_id=42, fps=4)
    encode_mp4(marked, tmp_path / "plain.mp4", fps=4)

    signed = provenance.output_sign(src=tmp_path / "plain.mp4", dst=tmp_path / "signed.mp4", output_id="o-1",
                                    license_id=str(active_license.id), model_sha256="0" * 64,
                                    likeness_model_sha256=None, label=label, watermark_binding=binding)

    assert signed.sha256 == _sha256(tmp_path / "signed.mp4")
    assert signed.size_bytes == (tmp_path / "signed.mp4").stat().st_size
    assert read_file(signed.path, trust_anchor_pem=load_trust_anchor(settings.BESPOKE_PKI_DIR)).is_trusted


STRANGER_PKI: list[Path] = []


def stranger_signer_factory() -> LocalKeySigner:
    return LocalKeySigner(load_signing_material(STRANGER_PKI[0]))


@pytest.mark.django_db
def test_an_output_that_does_not_validate_as_trusted_leaves_no_file(settings, active_license, tmp_path, large_files):
    STRANGER_PKI[:] = [create_dev_pki(tmp_path / "stranger").directory]
    settings.BESPOKE_SIGNER = "tests.provenance.test_signed_output:stranger_signer_factory"
    frames, label = provenance.disclosure_apply(np.full((4, 128, 128, 3), 90, dtype=np.uint8))
    marked, binding = provenance.watermark_apply(frames, watermark_id=42, fps=4)
    encode_mp4(marked, tmp_path / "plain.mp4", fps=4)

    with pytest.raises(SigningError, match="did not verify as trusted"):
        provenance.output_sign(src=tmp_path / "plain.mp4", dst=tmp_path / "signed.mp4", output_id="o-1",
                               license_id=str(active_license.id), model_sha256="0" * 64, likeness_model_sha256=None,
                               label=label, watermark_binding=binding)

    assert not (tmp_path / "signed.mp4").exists()
