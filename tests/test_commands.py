"""The fixed commands: demo, bootstrap, settings that fail fast, production deploy checks,
and the embedded default started exactly as the README says (portal + worker)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from c2pa import Reader
from django.core.management import call_command

from audit.selectors import audit_chain_verify
from consent.models import LikenessModel

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BESPOKE_", "DJANGO_", "DATABASE_URL", "CELERY_"))}
    env.update({"BESPOKE_DATA_DIR": str(tmp_path / "data")}, **extra)
    return env


@pytest.mark.django_db(transaction=True)  # real commits: a revocation stops playthroughs once it commits
def test_demo_tells_the_whole_story_and_writes_a_report(tiny_model, tmp_path, settings):
    out = tmp_path / "demo"
    call_command("demo", out=out, stdout=StringIO())
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] is True
    steps = {step["step"]: step for step in report["steps"]}
    assert steps["output verified"]["manifest_state"] == "trusted"
    assert "Time-Stamping Authority" in steps["output time-stamped by a trusted authority"]["authority"]
    assert steps["output re-verified after revocation"]["consent"]["state"] == "revoked"
    assert steps["render after revocation refused"]["reason"] == "license_revoked"
    rendered = steps["rendered, labelled and signed"]
    model = LikenessModel.objects.get(pk=steps["likeness model trained (DreamBooth-LoRA)"]["likeness_model"])
    assert rendered["models"]["likeness_model_sha256"] == model.weights_sha256
    with (out / rendered["file"]).open("rb") as stream, Reader("video/mp4", stream) as reader:
        store = json.loads(reader.json())
    assertions = {a["label"]: a["data"] for a in store["manifests"][store["active_manifest"]]["assertions"]}
    created = assertions["c2pa.actions.v2"]["actions"][0]
    assert created["softwareAgent"]["com.bespoke.likeness_model_sha256"] == model.weights_sha256
    traced = steps["copy with its manifest stripped traced by the watermark"]
    assert traced["manifest_state"] == "no_manifest"
    assert traced["trace"]["output_id"] == steps["rendered, labelled and signed"]["output"]
    assert steps["stripped copy re-traced after revocation"]["consent"]["state"] == "revoked"
    assert steps["audit log checkpoint signed and verified"]["checkpoints_checked"] >= 1
    clip = out / steps["rendered, labelled and signed"]["file"]
    assert clip.read_bytes()[4:8] == b"ftyp"
    assert steps["license revoked by talent"]["published_outputs"] == [steps["rendered, labelled and signed"]["output"]]
    assert steps["likeness model trained (DreamBooth-LoRA)"]["eval_loss_after"] < \
        steps["likeness model trained (DreamBooth-LoRA)"]["eval_loss_before"]
    assert steps["likeness model destroyed with the license that allowed it"]["status"] == "destroyed"
    cut = steps["signed cut assembled (no re-encode) and verified: each scene's manifest is an ingredient"]
    assert (cut["manifest_state"], cut["ingredients"]) == ("trusted", 6)
    assert cut["choices"] == ["Wave to your friend", "Knock on the door", "Light the lamp"]
    assert (out / cut["file"]).read_bytes()[4:8] == b"ftyp"
    assert steps["next playthrough refused"]["reason"] == "viewer_consent_missing"
    assert audit_chain_verify().ok
    _assert_no_plaintext_likeness_at_rest(settings)


PLAINTEXT_MARKS = {
    "PNG image": b"\x89PNG\r\n\x1a\n",
    "JPEG image (JFIF)": b"\xff\xd8\xff\xe0\x00\x10JFIF",
    "JPEG image (Exif)": b"Exif\x00\x00",
    "safetensors header": b'"data_offsets"',
    "LoRA tensor names": b"lora.down.weight",
}


def _assert_no_plaintext_likeness_at_rest(settings) -> None:  # type: ignore[no-untyped-def]
    """Invariant 4: a dump of every table and every stored file holds no photo or LoRA in clear."""
    from django.db import connection

    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    data = bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
                    found += [f"{table}: {name}" for name, mark in PLAINTEXT_MARKS.items() if mark in data]
    media = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert any(p.suffix == ".sealed" for p in media) and any(p.suffix == ".mp4" for p in media)
    for path in media:
        data = path.read_bytes()
        found += [f"{path.name}: {name}" for name, mark in PLAINTEXT_MARKS.items() if mark in data]
    assert not found


def test_malformed_settings_stop_the_process_with_the_variable_named(tmp_path):
    for variable, value in (("DATABASE_URL", "mysql://x/y"), ("BESPOKE_RENDER_LEASE_SECONDS", "soon"),
                            ("CELERY_BROKER_URL", "carrier-pigeon://coop"), ("BESPOKE_MODE", "staging")):
        result = _manage("check", env=_clean_env(tmp_path, **{variable: value}))
        assert result.returncode != 0
        assert variable in result.stderr


def test_production_settings_require_secrets_and_pass_the_deploy_checklist(tmp_path):
    result = _manage("check", env=_clean_env(tmp_path, BESPOKE_MODE="production"))
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr
    env = _clean_env(tmp_path, BESPOKE_MODE="production", DJANGO_ALLOWED_HOSTS="bespoke.example",
                     DJANGO_SECRET_KEY="k" * 20 + "s3cr3t-v4lu3-th4t-is-l0ng-3n0ugh-!x7Qz",
                     BESPOKE_MASTER_KEY=base64.b64encode(bytes(range(32))).decode(),
                     BESPOKE_WATERMARK_KEY="w" * 64,
                     BESPOKE_CACHE_URL="redis://cache.bespoke.example:6379/0")
    result = _manage("check", env=env)
    assert result.returncode != 0 and "BESPOKE_TSA_URL" in result.stderr, "production time-stamps every manifest"
    env["BESPOKE_TSA_URL"] = "https://tsa.bespoke.example/"
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_starts_the_portal_and_a_worker_that_renders(tmp_path):
    """The README's first command on a fresh data folder: SQLite, filesystem broker, tiny model, dev CA."""
    env = _clean_env(tmp_path)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "manage.py", "serve", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert json.loads(response.read()) == {"status": "ok", "database": "sqlite"}
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "the portal did not come up"
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/verify/", timeout=5) as response:
            assert b"Verify a file" in response.read()
        demo = _manage("demo", "--out", str(tmp_path / "out"), "--worker", env=env)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        assert report["ok"]
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
    again = _manage("bootstrap", env=env)
    assert again.returncode == 0 and "model present" in again.stdout and "signing PKI present" in again.stdout
    assert _manage("audit_verify", env=env).returncode == 0
