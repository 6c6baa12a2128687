"""The restore drill on PostgreSQL and a real object store (SeaweedFS): `pg_dump -Fc` of the
test database, every object of the media bucket, then a restore into another PostgreSQL
database and a fresh bucket, with the destroyed-key ledger in the checkpoint bucket."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection

from bespoke.seaweedfs import empty_and_delete_bucket, ensure_bucket
from consent.key_ledger import LEDGER_PREFIX, configured_ledger
from tests.backup_drill import check_restored, deployment_environment, erase_after_backup, make_world, manage
from tests.integration.object_store import S3Media

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database beside the test database, dropped afterwards."""
    name = f"h6_restored_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    settings_dict = connection.settings_dict
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host, port = settings_dict.get("HOST") or "127.0.0.1", settings_dict.get("PORT") or 5432
    try:
        yield f"postgres://{user}{password}@{host}:{port}/{name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def buckets(s3_media: S3Media) -> Iterator[dict[str, str]]:
    """The live deployment's checkpoint bucket, and the restored deployment's media and checkpoint buckets."""
    roles = ("checkpoints", "restored", "restored-checkpoints")
    names = {role: f"test-{role}-{uuid.uuid4().hex[:10]}" for role in roles}
    for role, name in names.items():
        ensure_bucket(s3_media.store, name, versioned=role != "restored")
    try:
        yield names
    finally:
        for name in names.values():
            empty_and_delete_bucket(s3_media.store, name)


def _keys(media: S3Media, bucket: str) -> list[str]:
    return S3Media(store=media.store, bucket=bucket).keys()


def test_the_restore_drill_on_postgresql_and_the_object_store(personas, django_user_model, settings, tmp_path,
                                                              s3_media, buckets, fresh_database):
    settings.BESPOKE_S3_CHECKPOINT_BUCKET = buckets["checkpoints"]
    world = make_world(personas, django_user_model, tmp_path)
    call_command("backup", out=str(tmp_path / "backup"))
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["database"]["engine"] == "postgresql"
    assert (tmp_path / "backup" / "database.dump").read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    assert {world.output_name, world.erased_photo_name} <= {item["name"] for item in manifest["objects"]}

    erase_after_backup(world)
    assert [entry.talent_id for entry in configured_ledger().entries()] == [world.erased_talent_id]
    assert _keys(s3_media, buckets["checkpoints"]).count(f"{LEDGER_PREFIX}{world.erased_talent_id}.json") == 1

    environment = deployment_environment(
        **{**s3_media.worker_environment(), "BESPOKE_S3_BUCKET": buckets["restored"]},
        BESPOKE_DATA_DIR=str(tmp_path / "restored-data"), DATABASE_URL=fresh_database,
        BESPOKE_S3_CHECKPOINT_BUCKET=buckets["checkpoints"],
        BESPOKE_AUDIT_CHECKPOINT_DIR=str(settings.BESPOKE_AUDIT_CHECKPOINT_DIR))
    # The live checkpoint series covers the erasure, which the backup lacks: refused, nothing kept.
    refused = manage(environment, "restore", "--from", str(tmp_path / "backup"))
    assert refused.returncode == 1 and "new checkpoint series" in refused.stderr, refused.stdout + refused.stderr
    assert _keys(s3_media, buckets["restored"]) == []
    tables = manage(environment, "shell", "-c", "from django.db import connection; "
                                                 "print(len(connection.introspection.table_names()))")
    assert tables.stdout.strip().splitlines()[-1] == "0", tables.stdout + tables.stderr

    # A new checkpoint series (a new checkpoint bucket); the ledger is read from the old one.
    environment |= {"BESPOKE_S3_CHECKPOINT_BUCKET": buckets["restored-checkpoints"],
                    "BESPOKE_AUDIT_CHECKPOINT_DIR": str(tmp_path / "restored-checkpoints")}
    restored = manage(environment, "restore", "--from", str(tmp_path / "backup"),
                      "--ledger-from", f"s3://{buckets['checkpoints']}")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"restored tree size: {manifest['audit']['head_seq']}" in restored.stdout
    check_restored(environment, world, tmp_path)
    # The ledger moved with the new series: a later restore there re-applies the erasure too.
    assert f"{LEDGER_PREFIX}{world.erased_talent_id}.json" in _keys(s3_media, buckets["restored-checkpoints"])
