import datetime as dt
import hashlib
import json
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from c2pa import Context, Reader

from provenance.c2pa_io import MediaReadError, SigningError, read_file, sign_file
from provenance.labels import LabelSpec, burn_disclosure
from provenance.manifest import (
    CONSENT_ASSERTION_LABEL,
    IPTC_TRAINED_ALGORITHMIC_MEDIA,
    OUTPUT_ASSERTION_LABEL,
    ConsentReference,
    GeneratorInfo,
    WatermarkBinding,
    build_manifest,
)
from provenance.pki import (
    SigningMaterial,
    create_dev_pki,
    load_signing_material,
    load_trust_anchor,
    pki_is_usable,
)
from provenance.signing import CallbackSigner, LocalKeySigner

OUTPUT_ID = "out_01HZX3K9"
CONSENT = ConsentReference(
    license_id="lic_7Hq2Rt",
    license_text_sha256=hashlib.sha256(b"licence text v3").hexdigest(),
    status_url="https://bespoke.example/licences/lic_7Hq2Rt/status",
)
GENERATOR = GeneratorInfo(
    name="bespoke-render",
    version="1.4.0",
    model_sha256=hashlib.sha256(b"model identity").hexdigest(),
)
SIGNER_NAME = "Bespoke DEV C2PA Signer"


def _write_mp4(path: Path, frames: np.ndarray) -> Path:
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def _manifest(label: LabelSpec) -> dict[str, Any]:
    return build_manifest(
        title="render.mp4",
        output_id=OUTPUT_ID,
        consent=CONSENT,
        generator=GENERATOR,
        label=label,
        claim_generator_version="0.1.0",
    )


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*map(_strings, value.values()))
    if isinstance(value, list):
        return set().union(*map(_strings, value))
    return set()


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_dev_pki(tmp_path_factory.mktemp("pki") / "dev").directory


@pytest.fixture(scope="module")
def anchor(pki_dir: Path) -> str:
    return load_trust_anchor(pki_dir)


@pytest.fixture(scope="module")
def labelled_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LabelSpec]:
    rng = np.random.default_rng(7)
    frames, label = burn_disclosure(rng.integers(0, 256, (8, 64, 64, 3), dtype=np.uint8))
    return _write_mp4(tmp_path_factory.mktemp("media") / "unsigned.mp4", frames), label


@pytest.fixture(scope="module")
def signed_clip(labelled_clip: tuple[Path, LabelSpec], pki_dir: Path) -> Path:
    src, label = labelled_clip
    dst = src.with_name("signed.mp4")
    sign_file(src=src, dst=dst, manifest=_manifest(label), signer=LocalKeySigner(load_signing_material(pki_dir)))
    return dst


def test_signed_mp4_reads_back_trusted(signed_clip, anchor, labelled_clip):
    report = read_file(signed_clip, trust_anchor_pem=anchor)

    assert report.state == "trusted" and report.is_trusted
    assert report.failures == ()
    assert report.output_id == OUTPUT_ID
    assert report.consent == CONSENT
    assert report.digital_source_type == IPTC_TRAINED_ALGORITHMIC_MEDIA
    assert report.disclosure == labelled_clip[1].as_dict()
    assert report.title == "render.mp4"
    assert report.signer == SIGNER_NAME
    assert report.manifest_label and report.manifest_label.startswith("urn:c2pa:")
    assert {
        "c2pa.hash.bmff.v3",
        "c2pa.actions.v2",
        "cawg.training-mining",
        CONSENT_ASSERTION_LABEL,
        OUTPUT_ASSERTION_LABEL,
    } <= set(report.assertion_labels)
    assert json.loads(json.dumps(report.as_dict()))["consent"]["license_id"] == CONSENT.license_id


def test_manifest_carries_no_strings_beyond_what_bespoke_put_there(
    signed_clip, anchor, labelled_clip
):
    with Context.from_dict({"trust": {"user_anchors": anchor}}) as context:
        with Reader(signed_clip, context=context) as reader:
            active = reader.get_active_manifest()
    machine_generated = re.compile(
        r"(urn:c2pa:|xmp\.iid:)[0-9a-f-]+|[A-Za-z0-9+/]{16,}={0,2}|[0-9.]+|/[a-z]+|sha256|Es256"
    )

    unexpected = {
        text
        for text in _strings(active) - _strings(_manifest(labelled_clip[1]))
        if not machine_generated.fullmatch(text)
    }

    assert unexpected <= {SIGNER_NAME, "Bespoke DEV", "jumbf manifest", "c2pa.hash.bmff.v3"}
    consent = next(a for a in active["assertions"] if a["label"] == CONSENT_ASSERTION_LABEL)
    assert set(consent["data"]) == {"license_id", "license_text_sha256", "status_url", "scope"}


def test_flipping_a_media_byte_makes_the_manifest_invalid(signed_clip, anchor, tmp_path):
    data = bytearray(signed_clip.read_bytes())
    data[data.index(b"mdat") + 4 + 16] ^= 0xFF
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))

    report = read_file(tampered, trust_anchor_pem=anchor)

    assert report.state == "invalid" and not report.is_trusted
    assert "assertion.bmffHash.mismatch" in report.failures


def test_unsigned_mp4_has_no_manifest(labelled_clip, anchor):
    report = read_file(labelled_clip[0], trust_anchor_pem=anchor)

    assert report.state == "no_manifest"
    assert report.as_dict()["failures"] == [] and report.output_id is None


def test_signer_outside_the_trust_anchor_is_valid_but_not_trusted(
    signed_clip, tmp_path_factory
):
    other_pki = create_dev_pki(tmp_path_factory.mktemp("other") / "pki")
    other_root = load_trust_anchor(other_pki.directory)

    report = read_file(signed_clip, trust_anchor_pem=other_root)

    assert report.state == "valid" and not report.is_trusted
    assert report.failures == ("signingCredential.untrusted",)
    assert report.output_id == OUTPUT_ID


def test_key_that_does_not_match_the_certificate_fails_without_output(
    labelled_clip, pki_dir, tmp_path
):
    src, label = labelled_clip
    stranger = load_signing_material(create_dev_pki(tmp_path / "stranger").directory)
    mismatched = SigningMaterial(
        chain_pem=load_signing_material(pki_dir).chain_pem,
        private_key_pem=stranger.private_key_pem,
    )
    dst = tmp_path / "out.mp4"

    with pytest.raises(SigningError, match="signature does not match"):
        sign_file(src=src, dst=dst, manifest=_manifest(label), signer=LocalKeySigner(mismatched))

    assert not dst.exists()


def test_missing_source_is_a_signing_error(pki_dir, tmp_path, labelled_clip):
    dst = tmp_path / "out.mp4"

    with pytest.raises(SigningError):
        sign_file(
            src=tmp_path / "absent.mp4",
            dst=dst,
            manifest=_manifest(labelled_clip[1]),
            signer=LocalKeySigner(load_signing_material(pki_dir)),
        )

    assert not dst.exists()


def test_signing_in_place_is_refused_and_keeps_the_source(labelled_clip, pki_dir):
    src, label = labelled_clip
    before = src.read_bytes()
    signing = load_signing_material(pki_dir)

    with pytest.raises(SigningError, match="in place"):
        sign_file(src=src, dst=src, manifest=_manifest(label), signer=LocalKeySigner(signing))

    assert src.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "content"),
    [("notes.mp4", b"this is not a video\n" * 8), ("clip.webm", b"\x1aE\xdf\xa3")],
)
def test_unreadable_media_raises_media_read_error(tmp_path, anchor, name, content):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(MediaReadError):
        read_file(path, trust_anchor_pem=anchor)


def test_missing_file_raises_file_not_found(tmp_path, anchor):
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / "absent.mp4", trust_anchor_pem=anchor)


def test_private_keys_are_owner_only(pki_dir):
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in pki_dir.iterdir()}

    assert modes["root_ca.key"] == 0o600
    assert modes["signer.key"] == 0o600
    assert modes["tsa.key"] == 0o600
    assert set(modes) == {"root_ca.pem", "root_ca.key", "signer.key", "signer_chain.pem", "tsa.pem", "tsa.key",
                          "tsa.cnf"}


def test_pki_usability_depends_on_remaining_validity(tmp_path):
    short_lived = create_dev_pki(tmp_path / "pki", valid_days=1).directory

    assert not pki_is_usable(short_lived, min_remaining=dt.timedelta(days=7))
    assert pki_is_usable(short_lived, min_remaining=dt.timedelta(hours=1))


def test_incomplete_or_mismatched_pki_is_not_usable(tmp_path):
    pki = create_dev_pki(tmp_path / "pki")
    other = create_dev_pki(tmp_path / "other")
    shutil.copy(other.signer_key_path, pki.signer_key_path)

    assert not pki_is_usable(pki.directory)

    other.root_key_path.unlink()
    assert not pki_is_usable(other.directory)


def test_recreating_a_pki_replaces_it(tmp_path):
    first = load_trust_anchor(create_dev_pki(tmp_path / "pki").directory)
    second = load_trust_anchor(create_dev_pki(tmp_path / "pki").directory)

    assert first != second
    assert pki_is_usable(tmp_path / "pki")
    assert [p.name for p in tmp_path.iterdir()] == ["pki"]


def test_consent_reference_requires_a_sha256_digest():
    with pytest.raises(ValueError, match="license_text_sha256"):
        ConsentReference(license_id="lic", license_text_sha256="not-a-hash", status_url="u")


def test_manifest_declares_ai_creation_the_disclosure_the_watermark_and_no_training(labelled_clip):
    label = labelled_clip[1]
    likeness_sha256 = hashlib.sha256(b"lora").hexdigest()
    generator = GeneratorInfo(name=GENERATOR.name, version=GENERATOR.version, model_sha256=GENERATOR.model_sha256,
                              likeness_model_sha256=likeness_sha256)
    binding = WatermarkBinding(algorithms=("com.bespoke.watermark.test.2", "com.bespoke.watermark.test.1"),
                               versions=("2", "1"), watermark_id=0x01020304, payload_bits=32, duration_ms=2000)

    manifest = build_manifest(title="render.mp4", output_id=OUTPUT_ID, consent=CONSENT, generator=generator,
                              label=label, claim_generator_version="0.1.0", watermark=binding)

    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
    created, edited, watermarked = assertions["c2pa.actions.v2"]["actions"]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == IPTC_TRAINED_ALGORITHMIC_MEDIA
    hashes = {"com.bespoke.model_sha256": GENERATOR.model_sha256, "com.bespoke.likeness_model_sha256": likeness_sha256}
    assert created["softwareAgent"] == {"name": GENERATOR.name, "version": GENERATOR.version, **hashes}
    assert created["parameters"] == {"com.bespoke.output_id": OUTPUT_ID, **hashes}
    assert edited["action"] == "c2pa.edited" and label.text in edited["description"]
    assert watermarked["action"] == "c2pa.watermarked"
    soft_bindings = [a["data"] for a in manifest["assertions"] if a["label"] == "c2pa.soft-binding"]
    assert [binding["alg"] for binding in soft_bindings] == list(binding.algorithms)
    assert all(binding["blocks"] == [{"scope": {"timespan": {"start": 0, "end": 2000}}, "value": [1, 2, 3, 4]}]
               for binding in soft_bindings)
    entries = assertions["cawg.training-mining"]["entries"]
    assert len(entries) == 4 and all(e == {"use": "notAllowed"} for e in entries.values())
    assert manifest["claim_generator_info"] == [{"name": "Bespoke", "version": "0.1.0"}]


def test_without_a_watermark_there_is_no_soft_binding(labelled_clip):
    manifest = build_manifest(title="t.mp4", output_id=OUTPUT_ID, consent=CONSENT, generator=GENERATOR,
                              label=labelled_clip[1], claim_generator_version="0.1.0")
    labels = [a["label"] for a in manifest["assertions"]]
    assert "c2pa.soft-binding" not in labels
    assert [a["action"] for a in manifest["assertions"][0]["data"]["actions"]] == ["c2pa.created", "c2pa.edited"]


def _kms(pki_dir: Path, calls: list[int]):  # type: ignore[no-untyped-def]
    """A stand-in for an HSM: the key stays inside this closure, only signatures leave."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key(load_signing_material(pki_dir).private_key_pem, password=None)

    def sign(data: bytes) -> bytes:
        calls.append(len(data))
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    return sign


def test_a_callback_signer_validates_exactly_like_the_local_key(labelled_clip, pki_dir, tmp_path, signed_clip):
    src, label = labelled_clip
    calls: list[int] = []
    signer = CallbackSigner(sign=_kms(pki_dir, calls), chain_pem=load_signing_material(pki_dir).chain_pem)
    dst = tmp_path / "kms.mp4"

    sign_file(src=src, dst=dst, manifest=_manifest(label), signer=signer)

    anchor = load_trust_anchor(pki_dir)
    by_callback, by_local_key = read_file(dst, trust_anchor_pem=anchor), read_file(signed_clip, trust_anchor_pem=anchor)
    assert calls, "the callback was never asked to sign"
    assert by_callback.state == by_local_key.state == "trusted"
    assert by_callback.failures == by_local_key.failures == ()
    assert by_callback.signer == by_local_key.signer
    assert by_callback.assertion_labels == by_local_key.assertion_labels


def test_a_failing_callback_signer_leaves_no_output(labelled_clip, pki_dir, tmp_path):
    src, label = labelled_clip

    def unavailable(data: bytes) -> bytes:
        raise ConnectionError("the KMS did not answer")

    dst = tmp_path / "out.mp4"
    with pytest.raises(SigningError):
        sign_file(src=src, dst=dst, manifest=_manifest(label),
                  signer=CallbackSigner(sign=unavailable, chain_pem=load_signing_material(pki_dir).chain_pem))
    assert not dst.exists()
