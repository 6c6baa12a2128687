"""Where files go: this host's folder by default, one S3 bucket shared by every host when set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOW_STORAGES = ("import json; from django.conf import settings; "
                 "print(json.dumps({k: v for k, v in settings.STORAGES.items()}, default=str))")


def _storages(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BESPOKE_", "DJANGO_", "AWS_"))}
    env.update(BESPOKE_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="bespoke.settings", **extra)
    shown = subprocess.run([sys.executable, "-c", SHOW_STORAGES], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_files_stay_on_this_host_by_default(tmp_path):
    assert _storages(tmp_path)["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"


def test_a_bucket_puts_every_file_on_the_object_store_privately_and_never_replaced(tmp_path):
    default = _storages(tmp_path, BESPOKE_S3_BUCKET="bespoke-media", BESPOKE_S3_ENDPOINT_URL="http://10.0.0.5:8333",
                        BESPOKE_S3_ACCESS_KEY_ID="AKIDEXAMPLE", BESPOKE_S3_SECRET_ACCESS_KEY="secret",
                        BESPOKE_S3_URL_EXPIRE_SECONDS="120")["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    options = default["OPTIONS"]
    assert options["bucket_name"] == "bespoke-media"
    assert options["endpoint_url"] == "http://10.0.0.5:8333"
    assert options["addressing_style"] == "path"  # a self-hosted endpoint has no per-bucket host names
    assert (options["access_key"], options["secret_key"]) == ("AKIDEXAMPLE", "secret")
    assert options["default_acl"] is None and options["querystring_auth"] is True
    assert options["file_overwrite"] is False
    assert options["querystring_expire"] == 120


def test_without_keys_the_store_uses_the_hosts_own_credentials(tmp_path):
    options = _storages(tmp_path, BESPOKE_S3_BUCKET="bespoke-media")["default"]["OPTIONS"]
    assert options["access_key"] is None and options["secret_key"] is None  # boto3's chain: env, role
    assert options["endpoint_url"] is None and options["addressing_style"] == "auto"
