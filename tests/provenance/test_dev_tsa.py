"""Every manifest is time-stamped: the dev PKI's RFC 3161 authority, and what c2pa and verify_media say.

The test run serves the dev TSA (tests/conftest.py, ``dev_tsa_url``) as ``manage.py serve`` does,
so an output signed here carries a time-stamp from it. That an unreachable authority is skipped,
or refuses signing when BESPOKE_TSA_REQUIRED is on, is tested in test_traceability.py.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from c2pa import Context, Reader
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.core.management import call_command

from generation.pipeline.video import encode_mp4
from provenance import services as provenance
from provenance.c2pa_io import read_file
from provenance import tsa as tsa_module
from provenance.pki import DevPki, create_dev_pki, load_trust_anchor, pki_is_usable
from provenance.tsa import (
    QUERY_CONTENT_TYPE,
    REPLY_CONTENT_TYPE,
    TimeStampAuthorityError,
    running_dev_tsa,
)

AUTHORITY = "Bespoke DEV Time-Stamping Authority"


def _sign(tmp_path: Path, active_license) -> provenance.SignedOutput:  # type: ignore[no-untyped-def]
    frames, label = provenance.disclosure_apply(np.full((4, 128, 128, 3), 90, dtype=np.uint8))
    marked, binding = provenance.watermark_apply(frames, watermark_id=7, fps=4)
    encode_mp4(marked, tmp_path / "plain.mp4", fps=4)
    return provenance.output_sign(src=tmp_path / "plain.mp4", dst=tmp_path / "signed.mp4", output_id="o-ts",
                                  license_id=str(active_license.id), model_sha256="0" * 64, likeness_model_sha256=None,
                                  label=label, watermark_binding=binding)


def _post(url: str, body: bytes, content_type: str = QUERY_CONTENT_TYPE) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def _query(tmp_path: Path) -> bytes:
    """An RFC 3161 query for a file's SHA-256, asking for the authority's certificate, as OpenSSL makes it."""
    (tmp_path / "data.bin").write_bytes(b"a frame of a clip")
    subprocess.run(["openssl", "ts", "-query", "-data", tmp_path / "data.bin", "-sha256", "-cert",
                    "-out", tmp_path / "query.tsq"], check=True, capture_output=True)
    return (tmp_path / "query.tsq").read_bytes()


def _openssl_text(reply: bytes, path: Path) -> str:
    path.write_bytes(reply)
    return subprocess.run(["openssl", "ts", "-reply", "-in", path, "-text"], check=True, capture_output=True,
                          text=True).stdout


def _folder_contents(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_the_dev_pki_has_a_time_stamping_authority_issued_by_its_root(pki_dir):
    pki = DevPki(pki_dir)
    root = x509.load_pem_x509_certificate(pki.root_cert_path.read_bytes())
    tsa = x509.load_pem_x509_certificate(pki.tsa_cert_path.read_bytes())

    assert tsa.issuer == root.subject and tsa.subject != root.subject
    root.public_key().verify(tsa.signature, tsa.tbs_certificate_bytes, ec.ECDSA(tsa.signature_hash_algorithm))
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    usage = tsa.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert not tsa.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert pki_is_usable(pki_dir)


def test_a_dev_pki_made_without_an_authority_is_not_usable_so_bootstrap_remakes_it(tmp_path):
    older = create_dev_pki(tmp_path / "pki")
    for path in (older.tsa_cert_path, older.tsa_key_path, older.tsa_config_path):
        path.unlink()

    assert not pki_is_usable(older.directory)
    # A production PKI holds the signer only: a real authority time-stamps.
    assert pki_is_usable(older.directory, with_tsa=False)


def test_a_signed_output_carries_a_time_stamp_that_c2pa_validates(tmp_path, active_license, settings, dev_tsa_url,
                                                                 pki_dir):
    assert settings.BESPOKE_TSA_URL == dev_tsa_url
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)

    signed = _sign(tmp_path, active_license)

    assert signed.time_stamped and signed.compliance["manifest"]["time_stamped"] is True
    context = Context.from_dict({"trust": {"user_anchors": load_trust_anchor(pki_dir)},
                                 "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
    with context, signed.path.open("rb") as stream, Reader("video/mp4", stream, context=context) as reader:
        store = json.loads(reader.json())
    results = store["validation_results"]["activeManifest"]
    assert {"timeStamp.validated", "timeStamp.trusted"} <= {entry["code"] for entry in results["success"]}
    assert not results["failure"]
    stamped_at = dt.datetime.fromisoformat(store["manifests"][store["active_manifest"]]["signature_info"]["time"])
    assert before - dt.timedelta(seconds=2) <= stamped_at <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)

    report = read_file(signed.path, trust_anchor_pem=load_trust_anchor(pki_dir))
    assert report.is_trusted
    assert report.time_stamp is not None
    assert (report.time_stamp.state, report.time_stamp.authority) == ("trusted", AUTHORITY)
    assert report.time_stamp.time == report.signed_at
    assert dt.datetime.fromisoformat(report.time_stamp.time) == stamped_at


def test_verify_media_reports_the_time_stamp_and_its_authority(tmp_path, active_license):
    signed = _sign(tmp_path, active_license)
    out = StringIO()

    call_command("verify_media", str(signed.path), "--json", stdout=out)

    manifest = json.loads(out.getvalue())["manifest"]
    assert manifest["state"] == "trusted"
    stamp = manifest["time_stamp"]
    assert stamp["state"] == "trusted" and stamp["authority"] == AUTHORITY
    assert stamp["time"] == manifest["signed_at"] and dt.datetime.fromisoformat(stamp["time"]).tzinfo is not None
    assert "timeStamp.trusted" in stamp["codes"]


def test_a_time_stamp_by_an_authority_outside_the_trust_anchors_is_not_reported_trusted(
        tmp_path, tmp_path_factory, active_license, settings, pki_dir):
    stranger = create_dev_pki(tmp_path_factory.mktemp("stranger") / "pki")
    with running_dev_tsa(stranger.directory) as tsa:
        settings.BESPOKE_TSA_URL = tsa.url
        signed = _sign(tmp_path, active_license)

    report = read_file(signed.path, trust_anchor_pem=load_trust_anchor(pki_dir))
    assert report.time_stamp is not None and report.time_stamp.state != "trusted"
    assert "timeStamp.untrusted" in report.time_stamp.codes


def test_the_authority_answers_rfc_3161_queries_each_reply_with_its_own_serial(dev_tsa_url, pki_dir, tmp_path):
    query = _query(tmp_path)

    replies = [_post(dev_tsa_url, query) for _ in range(2)]

    assert [(status, content_type) for status, content_type, _ in replies] == [(200, REPLY_CONTENT_TYPE)] * 2
    pki = DevPki(pki_dir)
    (tmp_path / "reply.tsr").write_bytes(replies[0][2])
    verified = subprocess.run(["openssl", "ts", "-verify", "-in", tmp_path / "reply.tsr", "-queryfile",
                               tmp_path / "query.tsq", "-CAfile", pki.root_cert_path, "-untrusted", pki.tsa_cert_path],
                              capture_output=True, text=True, check=False)
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout + verified.stderr
    texts = [_openssl_text(body, tmp_path / f"reply{n}.tsr") for n, (_, _, body) in enumerate(replies)]
    assert all("Status: Granted." in text and AUTHORITY in text for text in texts)
    serials = [next(line for line in text.splitlines() if line.startswith("Serial number:")) for text in texts]
    assert serials[0] != serials[1]


def test_a_bad_request_gets_a_clear_400_and_changes_nothing(dev_tsa_url, pki_dir, tmp_path):
    before = _folder_contents(pki_dir)
    query = _query(tmp_path)

    for body, content_type in ((b"not a time-stamp query", QUERY_CONTENT_TYPE),
                               (query[:-3], QUERY_CONTENT_TYPE),
                               (query, "application/octet-stream"),
                               (b"\x30" * 5000, QUERY_CONTENT_TYPE)):
        status, kind, message = _post(dev_tsa_url, body, content_type)
        assert (status, kind) == (400, "text/plain; charset=utf-8") and message.strip()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(dev_tsa_url, timeout=10)
    assert refused.value.code == 405

    assert _folder_contents(pki_dir) == before
    assert _post(dev_tsa_url, query)[0] == 200, "the authority still answers after bad requests"


def test_a_client_that_stops_sending_is_dropped_and_the_authority_still_answers(pki_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(tsa_module._TimeStampHandler, "timeout", 0.5)
    query = _query(tmp_path)
    with running_dev_tsa(pki_dir) as server:
        host, port = server.server_address[:2]
        with socket.create_connection((host, port), timeout=10) as stalled:
            stalled.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {QUERY_CONTENT_TYPE}\r\n"
                            "Content-Length: 100\r\n\r\n".encode())  # and never the body
            assert _post(server.url, query)[0] == 200, "another client is answered meanwhile"
            started = time.monotonic()
            assert stalled.recv(1024) == b"", "the stalled connection is closed"
            assert time.monotonic() - started < 5


def test_a_pki_without_an_authority_cannot_serve_one(tmp_path):
    pki = create_dev_pki(tmp_path / "pki")
    pki.tsa_key_path.unlink()

    with pytest.raises(TimeStampAuthorityError, match="no dev time-stamping authority"), \
            running_dev_tsa(pki.directory):
        pass
