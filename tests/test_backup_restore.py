"""`manage.py backup` and `manage.py restore` on the embedded default (SQLite, local media),
and the restore drill: an erasure made after the backup survives the restore."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from consent.key_ledger import DestroyedKey, LedgerUnavailable, folder_ledger
from tests.backup_drill import (
    check_restored,
    deployment_environment,
    erase_after_backup,
    make_world,
    manage,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
                       reason="the embedded default's form; on PostgreSQL: tests/integration/test_backup_restore.py"),
]


def _tables(path: Path) -> list[str]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as database:
        rows = database.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return [name for (name,) in rows]


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_the_restore_drill_reapplies_an_erasure_made_after_the_backup(personas, django_user_model, settings,
                                                                     tmp_path):
    settings.DATA_DIR = tmp_path / "data"  # the ledger's folder, shared with the restored deployment
    world = make_world(personas, django_user_model, tmp_path)
    call_command("backup", out=str(tmp_path / "backup"))
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert {world.output_name, world.erased_photo_name} <= {item["name"] for item in manifest["objects"]}
    assert manifest["audit"]["latest_checkpoint_tree_size"] == manifest["audit"]["head_seq"]
    assert not (tmp_path / "backup.partial").exists()

    erase_after_backup(world)
    ledger = tmp_path / "data" / "destroyed-keys"
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o700
    assert [entry.talent_id for entry in folder_ledger(ledger).entries()] == [world.erased_talent_id]

    restored_db, restored_media = tmp_path / "restored.sqlite3", tmp_path / "restored-media"
    environment = deployment_environment(
        BESPOKE_DATA_DIR=str(tmp_path / "data"), DATABASE_URL=f"sqlite:///{restored_db}",
        BESPOKE_MEDIA_ROOT=str(restored_media),
        BESPOKE_AUDIT_CHECKPOINT_DIR=str(settings.BESPOKE_AUDIT_CHECKPOINT_DIR))
    # The old checkpoint series covers the erasure, which the backup lacks: refused, nothing kept.
    refused = manage(environment, "restore", "--from", str(tmp_path / "backup"))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "events were deleted" in refused.stderr and "new checkpoint series" in refused.stderr
    assert _tables(restored_db) == [] and _files(restored_media) == []

    environment["BESPOKE_AUDIT_CHECKPOINT_DIR"] = str(tmp_path / "restored-checkpoints")
    restored = manage(environment, "restore", "--from", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"restored tree size: {manifest['audit']['head_seq']}" in restored.stdout
    check_restored(environment, world, tmp_path)
    assert f"talent {world.erased_talent_id} (key " in restored.stdout


def test_restore_refuses_a_database_that_is_not_empty_and_a_damaged_backup(personas, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    call_command("backup", out=str(tmp_path / "backup"))
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", out=str(tmp_path / "backup"))
    with pytest.raises(CommandError, match="the database is not empty"):
        call_command("restore", source=str(tmp_path / "backup"))
    with pytest.raises(CommandError, match="not a finished backup"):
        call_command("restore", source=str(tmp_path))

    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    (media / "vanished.mp4").symlink_to(media / "gone.mp4")  # listed, then unreadable
    with pytest.raises(CommandError, match="backup failed, nothing was kept"):
        call_command("backup", out=str(tmp_path / "second"))
    assert not (tmp_path / "second").exists() and not (tmp_path / "second.partial").exists()

    (tmp_path / "backup" / "database.dump").write_bytes(b"not a database")
    restored_db = tmp_path / "restored.sqlite3"
    environment = deployment_environment(BESPOKE_DATA_DIR=str(tmp_path / "data"),
                                         DATABASE_URL=f"sqlite:///{restored_db}",
                                         BESPOKE_MEDIA_ROOT=str(tmp_path / "restored-media"))
    damaged = manage(environment, "restore", "--from", str(tmp_path / "backup"))
    assert damaged.returncode == 1 and "does not match the manifest" in damaged.stderr
    assert _tables(restored_db) == []


def test_the_ledger_keeps_one_entry_per_talent_and_never_replaces_it(tmp_path):
    ledger = folder_ledger(tmp_path / "destroyed-keys")
    talent_id = "0f4b5c1e-8d2a-4a51-9a57-3f0c2d9e7b11"
    first = DestroyedKey(talent_id=talent_id, key_id="3", destroyed_at="2026-01-01T00:00:00+00:00")
    ledger.record(first)
    ledger.record(DestroyedKey(talent_id=talent_id, key_id="9", destroyed_at="2026-02-02T00:00:00+00:00"))
    assert list(ledger.entries()) == [first]
    (tmp_path / "destroyed-keys" / "forged.json").write_text('{"talent_id": "x", "key_id": 1, "destroyed_at": 0}')
    with pytest.raises(LedgerUnavailable, match="forged.json is not a destroyed-key entry"):
        list(ledger.entries())
    with pytest.raises(ValueError):
        ledger.record(DestroyedKey(talent_id="../x", key_id="1", destroyed_at="2026-01-01T00:00:00+00:00"))
