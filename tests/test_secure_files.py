"""Secrets on disk are the owner's alone: the data folder 0700; the database, its WAL and
SHM, the keys 0600, from the moment they exist (whatever the umask), never overwritten;
folders left by older versions are tightened when a process starts."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.secure_files import create_private_dir, read_or_create_secret, write_new_file

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ("secret_key", "master_key", "watermark_key")
DATABASE = ("bespoke.sqlite3", "bespoke.sqlite3-wal", "bespoke.sqlite3-shm")

# Opens the embedded database in WAL mode and reports the modes while the connection still
# holds the -wal and -shm files (the last connection to close removes them).
_PROBE = """
import json, stat
from pathlib import Path
from django.conf import settings
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
    cursor.execute("INSERT INTO probe VALUES (1)")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in Path(settings.DATA_DIR).iterdir()}
    modes["."] = stat.S_IMODE(Path(settings.DATA_DIR).stat().st_mode)
print(json.dumps(modes))
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _start_a_process(data_dir: Path) -> dict[str, int]:
    """A fresh process on the embedded default, under a permissive umask, as a deployment might run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BESPOKE_", "DJANGO_", "DATABASE_URL", "CELERY_"))}
    env["BESPOKE_DATA_DIR"] = str(data_dir)
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", _PROBE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(0))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_fresh_data_folder_its_database_and_its_secrets_are_owner_only(tmp_path):
    modes = _start_a_process(tmp_path / "data")
    assert modes["."] == 0o700
    assert {name: modes[name] for name in SECRETS + DATABASE} == dict.fromkeys(SECRETS + DATABASE, 0o600)


def test_a_data_folder_from_an_older_version_is_tightened_at_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    for name in SECRETS:
        (data / name).write_text("x" * 64)
        (data / name).chmod(0o644)
    database = sqlite3.connect(data / "bespoke.sqlite3")  # held open: its -wal and -shm stay
    try:
        database.execute("PRAGMA journal_mode=WAL")
        database.execute("CREATE TABLE earlier (x INTEGER)")
        database.commit()
        for name in DATABASE:
            (data / name).chmod(0o644)
        modes = _start_a_process(data)
    finally:
        database.close()
    assert modes["."] == 0o700
    assert {name: modes[name] for name in SECRETS + DATABASE} == dict.fromkeys(SECRETS + DATABASE, 0o600)
    assert (data / "secret_key").read_text() == "x" * 64  # tightened, not replaced


def test_a_new_secret_is_created_owner_only_in_one_step_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        write_new_file(tmp_path / "key", b"secret")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "key") == 0o600 and (tmp_path / "key").read_bytes() == b"secret"
    assert [path.name for path in tmp_path.iterdir()] == ["key"]  # no temporary file left behind


def test_a_key_is_never_written_over_an_existing_file(tmp_path):
    key = tmp_path / "key"
    key.write_bytes(b"the key in use")
    with pytest.raises(FileExistsError):
        write_new_file(key, b"another key")
    assert key.read_bytes() == b"the key in use"
    assert [path.name for path in tmp_path.iterdir()] == ["key"]


def test_processes_starting_together_agree_on_one_secret(tmp_path):
    path = tmp_path / "keys" / "shared.key"
    barrier = threading.Barrier(8)
    seen: list[bytes] = []

    def start() -> None:
        barrier.wait()
        seen.append(read_or_create_secret(path, lambda: os.urandom(32)))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len(set(seen)) == 1 and seen[0] == path.read_bytes()
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["shared.key"]


def test_a_private_folder_is_created_0700_and_an_existing_one_tightened(tmp_path):
    previous = os.umask(0)
    try:
        fresh = create_private_dir(tmp_path / "fresh" / "data")
    finally:
        os.umask(previous)
    old = tmp_path / "old"
    old.mkdir()
    old.chmod(0o775)
    create_private_dir(old)
    assert (_mode(fresh), _mode(old)) == (0o700, 0o700)


def test_the_audit_checkpoint_key_and_the_signing_pki_keys_are_owner_only(tmp_path, settings, db):
    from audit.checkpoints import signing_key_load
    from provenance.pki import create_dev_pki

    settings.BESPOKE_AUDIT_CHECKPOINT_KEY = tmp_path / "keys" / "audit-checkpoint.key"
    previous = os.umask(0)
    try:
        signing_key_load()
        pki = create_dev_pki(tmp_path / "pki").directory
    finally:
        os.umask(previous)
    assert (_mode(tmp_path / "keys"), _mode(tmp_path / "keys" / "audit-checkpoint.key")) == (0o700, 0o600)
    assert _mode(pki) == 0o700
    assert {path.name: _mode(path) for path in pki.glob("*.key")} == {"root_ca.key": 0o600, "signer.key": 0o600,
                                                                              "tsa.key": 0o600}
