"""Layered marking of every output, and tracing a copy back to its consent.

The published clip carries a visible label, an invisible watermark and a signed manifest
that declares both; a copy whose manifest was stripped by re-encoding is traced through
the watermark to its render and license; the public status answers by license or by
watermark id and flips on revocation, with no personal data.
"""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from c2pa import Reader
from django.core.files.storage import default_storage
from django.core.management import call_command

from consent import services as consent
from generation.models import RenderOutput
from generation.pipeline.video import decode_mp4, encode_mp4
from generation.services import render as services
from generation.tracing import media_verify
from provenance import services as provenance
from provenance.c2pa_io import SigningError
from provenance.pki import load_signing_material
from provenance.signing import CallbackSigner
from tests.conftest import SMALL_RENDER

pytestmark = pytest.mark.django_db

TRACEABLE_RENDER = {**SMALL_RENDER, "width": 256, "height": 256, "num_frames": 8, "fps": 8}


@pytest.fixture
def published(personas, active_license, tiny_model, tmp_path) -> tuple[RenderOutput, Path]:
    job = services.render_job_request(license_id=str(active_license.id), prompt="sks person reading a book",
                                      params=TRACEABLE_RENDER, acting_user=personas.bob)
    job = services.render_job_execute(job_id=str(job.id), worker="w1")
    clip = tmp_path / "clip.mp4"
    shutil.copy(default_storage.path(job.output.file.name), clip)
    return job.output, clip


def _stripped(clip: Path) -> Path:
    """What a re-upload to a video site does: decode, re-encode at CRF 28, metadata gone."""
    copy = clip.with_name("reencoded.mp4")
    encode_mp4(decode_mp4(clip), copy, fps=8, crf=28)
    return copy


def _verify(path: Path) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("verify_media", str(path), stdout=out)
        return 0, out.getvalue()
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue()


def _manifest_store(path: Path) -> dict:
    with path.open("rb") as stream, Reader("video/mp4", stream) as reader:
        return json.loads(reader.json())


def test_the_manifest_declares_the_watermark_the_consent_and_the_model(published, active_license):
    output, clip = published
    store = _manifest_store(clip)
    assertions = {a["label"]: a["data"] for a in store["manifests"][store["active_manifest"]]["assertions"]}

    actions = assertions["c2pa.actions.v2"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.edited", "c2pa.watermarked"]
    soft_bindings = [a["data"]["alg"] for a in store["manifests"][store["active_manifest"]]["assertions"]
                     if a["label"] == "c2pa.soft-binding"]
    assert soft_bindings == output.compliance["watermark"]["algorithms"] \
        == ["com.bespoke.watermark.tile-ss.1", "com.bespoke.watermark.dct-stdm.1"]
    assert media_verify(path=clip).manifest.watermark_id == output.watermark_id
    consent_data = assertions["com.bespoke.consent"]
    assert consent_data["license_id"] == str(active_license.id)
    assert consent_data["license_text_sha256"] == active_license.text_sha256
    assert consent_data["status_url"].endswith(f"/verify/consent/{active_license.id}")
    assert actions[0]["softwareAgent"]["com.bespoke.model_sha256"] == output.model_sha256


def test_the_compliance_record_is_kept_with_the_output(published):
    output, _ = published
    record = output.compliance
    assert record["visible_label"]["text"] == "AI-generated" and record["visible_label"]["placement"]
    assert record["watermark"]["watermark_id"] == output.watermark_id
    assert record["manifest"]["label"] == output.manifest_label
    assert "c2pa.soft-binding" in record["manifest"]["assertions"]
    assert record["manifest"]["time_stamped"] is True  # by the dev authority the test run serves


def test_the_api_hands_the_compliance_record_to_the_licensee(published):
    from generation.api import RenderOutputSerializer

    output, _ = published
    data = RenderOutputSerializer(output.job).data["output"]
    assert data["watermark_id"] == output.watermark_id and data["compliance"] == output.compliance


def test_a_copy_stripped_by_reencoding_is_traced_to_its_render_and_license(published, personas, active_license):
    output, clip = published
    copy = _stripped(clip)

    code, text = _verify(copy)

    assert code == 2 and "no C2PA manifest" in text
    assert f"traced by its invisible watermark {output.watermark_id}" in text
    assert f"output {output.id} of render {output.job_id}" in text
    assert f"license {active_license.id}" in text and output.manifest_label in text
    assert f"consent: license {active_license.id} is active" in text

    consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    assert f"consent: license {active_license.id} is revoked since" in _verify(copy)[1]


def test_a_clip_bespoke_never_published_is_not_traced(tmp_path):
    rng = np.random.default_rng(3)
    clip = tmp_path / "other.mp4"
    encode_mp4(rng.integers(0, 256, (8, 256, 256, 3), dtype=np.uint8), clip, fps=8)
    code, text = _verify(clip)
    assert code == 2 and "no Bespoke watermark found" in text


def test_the_status_by_watermark_flips_to_revoked_on_the_next_request(client, published, personas, active_license):
    output, _ = published
    url = f"/verify/watermark/{output.watermark_id}"

    before = client.get(url)
    assert before.status_code == 200 and before.json()["state"] == "active"
    assert "no-cache" in before["Cache-Control"] or "max-age=0" in before["Cache-Control"]
    consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    after = client.get(url)

    body = after.json()
    assert body == {"watermark_id": output.watermark_id, "state": "revoked", "since": body["since"]} and body["since"]
    personal = [active_license.talent.display_name, personas.alice.username, personas.bob.username,
                personas.alice.email, personas.bob.email]
    assert all(value not in after.content.decode() for value in personal if value)
    assert client.get(f"/verify/consent/{active_license.id}").json()["state"] == "revoked"


def test_an_unknown_watermark_id_is_a_plain_404(client):
    response = client.get("/verify/watermark/123")
    assert response.status_code == 404 and response.json()["state"] == "unknown"


def test_the_public_status_and_verify_endpoints_are_rate_limited(client, settings, empty_cache, tmp_path):
    settings.BESPOKE_STATUS_REQUESTS_PER_MINUTE = 3
    settings.BESPOKE_VERIFY_UPLOADS_PER_MINUTE = 1
    statuses = [client.get(f"/verify/watermark/{n}").status_code for n in range(4)]
    assert statuses == [404, 404, 404, 429]
    assert client.get("/verify/consent/00000000-0000-0000-0000-000000000000").status_code == 429
    other = client.get("/verify/watermark/1", REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 404, "another address has its own allowance"
    clip = tmp_path / "plain.mp4"
    encode_mp4(np.zeros((2, 128, 128, 3), dtype=np.uint8), clip, fps=8)
    uploads = [client.post("/verify/", {"file": clip.open("rb")}).status_code for _ in range(2)]
    assert uploads == [200, 429] and client.get("/verify/").status_code == 200


def _kms_signer() -> CallbackSigner:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.conf import settings

    material = load_signing_material(settings.BESPOKE_PKI_DIR)
    key = serialization.load_pem_private_key(material.private_key_pem, password=None)
    return CallbackSigner(sign=lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())), chain_pem=material.chain_pem)


def _sign(tmp_path: Path, active_license) -> provenance.SignedOutput:  # type: ignore[no-untyped-def]
    frames, label = provenance.disclosure_apply(np.full((4, 128, 128, 3), 90, dtype=np.uint8))
    marked, binding = provenance.watermark_apply(frames, watermark_id=42, fps=4)
    encode_mp4(marked, tmp_path / "plain.mp4", fps=4)
    return provenance.output_sign(src=tmp_path / "plain.mp4", dst=tmp_path / "signed.mp4", output_id="o-1",
                                  license_id=str(active_license.id), model_sha256="0" * 64, likeness_model_sha256="1" * 64,
                                  label=label, watermark_binding=binding)


KMS_REQUESTS: list[int] = []


def kms_signer_factory() -> CallbackSigner:
    """What a deployment names in BESPOKE_SIGNER to sign through its KMS."""
    KMS_REQUESTS.append(1)
    return _kms_signer()


def test_a_kms_callback_signer_configured_in_settings_signs_trusted_outputs(settings, tmp_path, active_license):
    settings.BESPOKE_SIGNER = "tests.provenance.test_traceability:kms_signer_factory"
    KMS_REQUESTS.clear()

    signed = _sign(tmp_path, active_license)

    # output_sign reads its result back and accepts only a Trusted manifest.
    assert KMS_REQUESTS and signed.manifest_label
    assert signed.compliance["models"]["likeness_model_sha256"] == "1" * 64


def test_an_unreachable_time_stamp_authority_is_skipped_unless_required(settings, tmp_path, active_license):
    settings.BESPOKE_TSA_URL = "http://127.0.0.1:9/tsa"
    signed = _sign(tmp_path, active_license)
    assert signed.time_stamped is False and signed.compliance["manifest"]["time_stamped"] is False

    settings.BESPOKE_TSA_REQUIRED = True
    (tmp_path / "signed.mp4").unlink()
    with pytest.raises(SigningError):
        _sign(tmp_path, active_license)
    assert not (tmp_path / "signed.mp4").exists()
