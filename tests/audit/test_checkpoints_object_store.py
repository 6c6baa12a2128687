"""Signed checkpoints on a real object store (SeaweedFS, or the store CI names): written once
with a conditional PUT into a versioned bucket, so a second writer of a name is refused and
even a forced overwrite is found by verification while the signed original stays."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.checkpoint_store import OBJECT_PREFIX, checkpoint_store
from audit.checkpoints import (
    audit_checkpoint_write,
    audit_log_verify,
    checkpoint_file_name,
    checkpoint_names,
)
from audit.services import audit_append
from bespoke.seaweedfs import ObjectStore, empty_and_delete_bucket, ensure_bucket
from core.write_once_store import BucketStore
from tests.integration.object_store import S3Media, object_store, s3_media  # noqa: F401 - fixtures

FIRST = OBJECT_PREFIX + checkpoint_file_name(5)


def _checkpoint_bucket(store: ObjectStore, settings, *, versioned: bool) -> Iterator[str]:  # type: ignore[no-untyped-def]
    bucket = f"test-checkpoints-{uuid.uuid4().hex[:12]}"
    ensure_bucket(store, bucket, versioned=versioned)
    settings.BESPOKE_S3_CHECKPOINT_BUCKET = bucket
    try:
        yield bucket
    finally:
        empty_and_delete_bucket(store, bucket)


@pytest.fixture
def checkpoint_bucket(object_store, s3_media: S3Media, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]  # noqa: F811
    yield from _checkpoint_bucket(object_store, settings, versioned=True)


@pytest.fixture
def unversioned_bucket(object_store, s3_media: S3Media, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]  # noqa: F811
    yield from _checkpoint_bucket(object_store, settings, versioned=False)


def _append(count: int) -> None:
    for n in range(count):
        audit_append(action="test.event", actor="system:test", subject=f"thing:{n}", data={"n": n})


def _verify(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", *args, stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, str(error), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _keys(store: ObjectStore, bucket: str) -> list[str]:
    listing = store.client().list_objects_v2(Bucket=bucket)
    return sorted(entry["Key"] for entry in listing.get("Contents", []))


@pytest.mark.django_db
def test_checkpoints_are_written_to_the_bucket_and_the_log_verifies_against_them(
        object_store, checkpoint_bucket, settings):  # noqa: F811
    _append(5)
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    assert f"checkpoint s3://{checkpoint_bucket}/{FIRST} signed: events #1-#5" in out.getvalue()
    assert _keys(object_store, checkpoint_bucket) == [FIRST, OBJECT_PREFIX + "frontier-000000000005.json"]
    assert not Path(settings.BESPOKE_AUDIT_CHECKPOINT_DIR).exists()  # nothing in the local folder

    _append(2)
    second = audit_checkpoint_write()
    assert second.events_read == 2  # resumed from the frontier kept in the bucket
    code, message, err = _verify("--full")
    assert code == 0, message
    assert "2 signed checkpoints match; the latest covers #7" in message and err == ""
    assert _verify()[0] == 0
    assert checkpoint_names(checkpoint_store(), from_size=7) == [checkpoint_file_name(7)]  # listed from there on
    assert checkpoint_names(checkpoint_store()) == [checkpoint_file_name(5), checkpoint_file_name(7)]


@pytest.mark.django_db
def test_a_second_writer_of_a_checkpoint_name_is_refused_and_the_first_stands(object_store, checkpoint_bucket):  # noqa: F811
    _append(5)
    written = audit_checkpoint_write()
    original = object_store.client().get_object(Bucket=checkpoint_bucket, Key=FIRST)["Body"].read()

    store = checkpoint_store()
    assert isinstance(store, BucketStore)
    assert store.create(checkpoint_file_name(5), b'{"forged": true}') is False
    assert store.read(checkpoint_file_name(5)) == original
    versions = object_store.client().list_object_versions(Bucket=checkpoint_bucket, Prefix=FIRST)["Versions"]
    assert len(versions) == 1
    assert audit_checkpoint_write() is None  # the log did not grow: nothing to sign
    assert audit_log_verify().latest_checkpoint_seq == written.checkpoint.tree_size


@pytest.mark.django_db
def test_a_forced_overwrite_fails_verification_and_the_signed_original_is_kept(object_store, checkpoint_bucket):  # noqa: F811
    _append(5)
    audit_checkpoint_write()
    client = object_store.client()
    original = client.get_object(Bucket=checkpoint_bucket, Key=FIRST)["Body"].read()
    document = json.loads(original)
    document["checkpoint"]["tree_size"] = document["checkpoint"]["last_seq"] = 4  # claim less, to hide a deletion
    client.put_object(Bucket=checkpoint_bucket, Key=FIRST, Body=json.dumps(document).encode())  # no condition

    code, message, _ = _verify()
    assert code == 1
    assert message == "checkpoint checkpoint-000000000005.json has an invalid signature: it was edited or forged"
    assert _verify("--full")[0] == 1
    versions = client.list_object_versions(Bucket=checkpoint_bucket, Prefix=FIRST)["Versions"]
    assert len(versions) == 2
    earlier = next(version for version in versions if not version["IsLatest"])
    kept = client.get_object(Bucket=checkpoint_bucket, Key=FIRST, VersionId=earlier["VersionId"])["Body"].read()
    assert kept == original


@pytest.mark.django_db
def test_a_bucket_that_keeps_no_versions_is_a_warning(unversioned_bucket):
    _append(3)
    audit_checkpoint_write()
    code, message, err = _verify()
    assert code == 0 and "audit chain intact: 3 events" in message
    assert f"warning: bucket {unversioned_bucket} does not keep object versions" in err


@pytest.mark.django_db
def test_an_unreachable_store_is_a_clear_failure_and_writes_nothing(object_store, s3_media, settings):  # noqa: F811
    settings.BESPOKE_S3_CHECKPOINT_BUCKET = f"test-missing-{uuid.uuid4().hex[:12]}"  # no such bucket
    _append(2)
    with pytest.raises(CommandError, match="cannot list s3://test-missing-"):
        call_command("audit_checkpoint", stdout=StringIO())
    code, message, _ = _verify()
    assert code == 1 and message.startswith("the signed checkpoints cannot be read: cannot list s3://test-missing-")
