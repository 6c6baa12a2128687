"""Write-once stores: a local folder, or a prefix of an object-store bucket, where a name
once written is never replaced.

The audit checkpoints and the ledger of destroyed talent keys both rest on that promise.
The folder links a synced temporary file into place (an existing file wins); the bucket is
written with a conditional PUT (`If-None-Match: *`), and should keep object versions, so
even a forced overwrite by someone holding the store's keys leaves the original behind.
"""

from __future__ import annotations

from pathlib import Path, PurePath, PurePosixPath
from typing import Any, Protocol

from core.secure_files import PRIVATE_FILE_MODE, create_private_dir, write_new_file

_ALREADY_TAKEN = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


class WriteOnceStoreError(Exception):
    """The store could not be read or written (unreachable, no such bucket, no access, a full disk)."""


class WriteOnceStore(Protocol):
    description: str  # where the names are, for messages

    def names(self, *, prefix: str = "", start_after: str = "") -> list[str]:
        """The names in the store beginning with `prefix` and sorting after `start_after`, sorted."""

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


class FolderStore:
    """One file a name; `private` keeps the folder and its files to their owner."""

    def __init__(self, directory: Path, *, private: bool = False) -> None:
        self.directory = Path(directory)
        self.private = private
        self.description = str(self.directory)

    def names(self, *, prefix: str = "", start_after: str = "") -> list[str]:
        try:
            return sorted(path.name for path in self.directory.iterdir() if not path.name.startswith(".")
                          and path.name.startswith(prefix) and path.name > start_after)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise WriteOnceStoreError(f"cannot list {self.directory}: {exc}") from exc

    def read(self, name: str) -> bytes:
        try:
            return (self.directory / name).read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise WriteOnceStoreError(f"cannot read {self.directory / name}: {exc}") from exc

    def create(self, name: str, data: bytes) -> bool:
        try:
            if self.private:
                create_private_dir(self.directory)
            else:
                self.directory.mkdir(parents=True, exist_ok=True)
            write_new_file(self.directory / name, data, mode=PRIVATE_FILE_MODE if self.private else 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise WriteOnceStoreError(f"cannot write {self.directory / name}: {exc}") from exc
        return True

    def where(self, name: str) -> PurePath:
        return self.directory / name

    def location(self, name: str) -> str:
        return str(self.directory / name)

    def warnings(self) -> list[str]:
        return []


class BucketStore:
    """One object a name under `prefix` of a bucket, created only if absent."""

    def __init__(self, bucket: str, client: Any, *, prefix: str) -> None:
        self.bucket, self.client, self.prefix = bucket, client, prefix
        self.description = f"s3://{bucket}/{prefix}"

    def names(self, *, prefix: str = "", start_after: str = "") -> list[str]:
        """Listed from `start_after` on, so a name far down a long list costs no more than one near its end."""
        names = []
        listing = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if start_after:
            listing["StartAfter"] = self.prefix + start_after
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**listing):
                names.extend(entry["Key"][len(self.prefix):] for entry in page.get("Contents", []))
        except Exception as exc:  # botocore's errors: an unreachable store or a missing bucket
            raise WriteOnceStoreError(f"cannot list {self.description}: {_describe(exc)}") from exc
        return sorted(name for name in names if name and "/" not in name)

    def read(self, name: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise FileNotFoundError(self.location(name)) from None
            raise WriteOnceStoreError(f"cannot read {self.location(name)}: {_describe(exc)}") from exc

    def create(self, name: str, data: bytes) -> bool:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data, IfNoneMatch="*",
                                   ContentType="application/json")
        except Exception as exc:
            if _error_code(exc) in _ALREADY_TAKEN:
                return False  # another writer stored this name first; theirs stands
            raise WriteOnceStoreError(f"cannot write {self.location(name)}: {_describe(exc)}") from exc
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
            return [(f"bucket {self.bucket} does not keep object versions: an object under {self.prefix} "
                     "overwritten by someone holding the store's keys would leave no original behind "
                     "(turn versioning on)")]
        return []


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
