"""Where signed audit checkpoints are kept: a local folder, or a bucket of the object store.

Both places keep the one promise the checkpoints rely on: a name once written is never
replaced. The folder links a synced temporary file into place (an existing file wins); the
bucket is written with a conditional PUT (`If-None-Match: *`), and should keep object
versions, so even a forced overwrite by someone holding the store's keys leaves the signed
original behind. The bucket is used when BESPOKE_S3_CHECKPOINT_BUCKET is set (it defaults
to the media bucket, BESPOKE_S3_BUCKET), under the `audit-checkpoints/` prefix.
"""

from __future__ import annotations

from pathlib import Path, PurePath, PurePosixPath
from typing import Any, Protocol

from django.conf import settings

from core.object_storage import s3_client_for
from core.secure_files import write_new_file

OBJECT_PREFIX = "audit-checkpoints/"


class CheckpointStoreError(Exception):
    """The store could not be read or written (unreachable, no such bucket, no access)."""


class CheckpointStore(Protocol):
    description: str  # where the checkpoints are, for messages

    def names(self) -> list[str]:
        """Every name in the store, sorted."""

    def read(self, name: str) -> bytes:
        """The bytes stored under `name`; FileNotFoundError when there is none."""

    def create(self, name: str, data: bytes) -> bool:
        """Store `data` under `name` unless the name is taken; False when it was (nothing replaced)."""

    def where(self, name: str) -> PurePath:
        """The place of `name` (its final component is the name)."""

    def location(self, name: str) -> str:
        """The place of `name`, as shown to people."""

    def warnings(self) -> list[str]:
        """What weakens the store's promise (e.g. a bucket that keeps no versions)."""


class FolderCheckpointStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.description = str(self.directory)

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(path.name for path in self.directory.iterdir() if not path.name.startswith("."))

    def read(self, name: str) -> bytes:
        return (self.directory / name).read_bytes()

    def create(self, name: str, data: bytes) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            write_new_file(self.directory / name, data, mode=0o644)
        except FileExistsError:
            return False
        return True

    def where(self, name: str) -> PurePath:
        return self.directory / name

    def location(self, name: str) -> str:
        return str(self.directory / name)

    def warnings(self) -> list[str]:
        return []


class ObjectCheckpointStore:
    def __init__(self, bucket: str, client: Any, *, prefix: str = OBJECT_PREFIX) -> None:
        self.bucket, self.client, self.prefix = bucket, client, prefix
        self.description = f"s3://{bucket}/{prefix}"

    def names(self) -> list[str]:
        names = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                names.extend(entry["Key"][len(self.prefix):] for entry in page.get("Contents", []))
        except Exception as exc:  # botocore's errors: an unreachable store or a missing bucket
            raise CheckpointStoreError(f"cannot list {self.description}: {_describe(exc)}") from exc
        return sorted(name for name in names if name and "/" not in name)

    def read(self, name: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"{self.description}{name}") from None
            raise CheckpointStoreError(f"cannot read {self.description}{name}: {_describe(exc)}") from exc

    def create(self, name: str, data: bytes) -> bool:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data, IfNoneMatch="*",
                                   ContentType="application/json")
        except Exception as exc:
            if _error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return False  # another writer stored this name first; theirs stands
            raise CheckpointStoreError(f"cannot write {self.description}{name}: {_describe(exc)}") from exc
        return True

    def where(self, name: str) -> PurePath:
        return PurePosixPath(self.bucket, self.prefix, name)

    def location(self, name: str) -> str:
        return f"{self.description}{name}"

    def warnings(self) -> list[str]:
        try:
            status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        except Exception as exc:
            return [f"cannot tell whether bucket {self.bucket} keeps object versions: {_describe(exc)}"]
        if status != "Enabled":
            return [f"bucket {self.bucket} does not keep object versions: a checkpoint overwritten by someone "
                    "holding the store's keys would leave no signed original behind (turn versioning on)"]
        return []


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def checkpoint_store() -> CheckpointStore:
    """The store the settings name: the checkpoint bucket when one is set, else the folder."""
    bucket = getattr(settings, "BESPOKE_S3_CHECKPOINT_BUCKET", None)
    if not bucket:
        return FolderCheckpointStore(Path(settings.BESPOKE_AUDIT_CHECKPOINT_DIR))
    return ObjectCheckpointStore(bucket, s3_client_for(bucket))
