"""The ledger of destroyed talent keys, kept where a database backup is not.

Erasure destroys a talent's data key inside the database. A database restored from a
backup taken before the erasure would bring the key back, and with it the talent's
sealed photos, evidence and likeness models. So every key destruction is also written
here, outside the database, and `manage.py restore` destroys again every key listed.

One write-once entry per talent (its id and the key's id, no personal data): on the
object store an object under "destroyed-keys/" of the checkpoint bucket, written with
a conditional put that never replaces one already there; in the embedded default a file
in BESPOKE_DATA_DIR/destroyed-keys/ (owner-only, linked into place, never replaced).

The entry is written before the erasure's transaction commits, and writing it again is
harmless (an existing entry counts as written). A crash after the entry and before the
commit leaves an entry for an erasure the talent asked for but that did not finish: a
restore completes it, which is what the talent asked for. A failed write raises, so the
erasure rolls back and no committed erasure is ever missing from the ledger.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings

from core.object_storage import s3_client_for
from core.write_once_store import (
    BucketStore,
    FolderStore,
    WriteOnceStore,
    WriteOnceStoreError,
)

LEDGER_PREFIX = "destroyed-keys/"


class LedgerUnavailable(Exception):
    """The ledger could not be written or read."""


@dataclass(frozen=True)
class DestroyedKey:
    talent_id: str
    key_id: str
    destroyed_at: str

    def encode(self) -> bytes:
        return (json.dumps({"talent_id": self.talent_id, "key_id": self.key_id, "destroyed_at": self.destroyed_at},
                           sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def decode(cls, content: bytes, *, where: str) -> DestroyedKey:
        try:
            fields = json.loads(content)
            return cls(talent_id=str(uuid.UUID(fields["talent_id"])), key_id=str(fields["key_id"]),
                       destroyed_at=str(fields["destroyed_at"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise LedgerUnavailable(f"the ledger entry {where} is not a destroyed-key entry") from None


def _entry_name(talent_id: str) -> str:
    if not talent_id or "/" in talent_id or talent_id.startswith("."):
        raise ValueError(f"not a talent id: {talent_id!r}")
    return f"{talent_id}.json"


class Ledger:
    """The entries, one a talent, in a write-once store (a private folder, or a bucket's prefix)."""

    def __init__(self, store: WriteOnceStore) -> None:
        self.store = store

    def __str__(self) -> str:
        return self.store.description

    def record(self, entry: DestroyedKey) -> None:
        """Write the entry; one already there counts as written (an erasure retried, or a
        restore re-applying it)."""
        try:
            self.store.create(_entry_name(entry.talent_id), entry.encode())
        except WriteOnceStoreError as exc:
            raise LedgerUnavailable(f"the destroyed-key ledger {self} cannot be written: {exc}") from exc

    def entries(self) -> Iterator[DestroyedKey]:
        try:
            for name in self.store.names():
                if name.endswith(".json"):
                    yield DestroyedKey.decode(self.store.read(name), where=self.store.location(name))
        except (WriteOnceStoreError, FileNotFoundError) as exc:
            raise LedgerUnavailable(f"the destroyed-key ledger {self} cannot be read: {exc}") from exc


def folder_ledger(directory: Path) -> Ledger:
    return Ledger(FolderStore(directory, private=True))


def bucket_ledger(bucket: str) -> Ledger:
    return Ledger(BucketStore(bucket, s3_client_for(bucket), prefix=LEDGER_PREFIX))


def ledger_folder() -> Path:
    return Path(settings.DATA_DIR) / "destroyed-keys"


def configured_ledger() -> Ledger:
    """The checkpoint bucket's "destroyed-keys/" on the object store, else the data folder's."""
    bucket = getattr(settings, "BESPOKE_S3_CHECKPOINT_BUCKET", None)
    if bucket:
        return bucket_ledger(bucket)
    return folder_ledger(ledger_folder())


def ledger_at(location: str) -> Ledger:
    """A ledger named on the command line: s3://BUCKET or a folder."""
    if location.startswith("s3://"):
        bucket = location.removeprefix("s3://").strip("/")
        if not bucket or "/" in bucket:
            raise ValueError(f"name a bucket as s3://BUCKET, not {location!r}")
        return bucket_ledger(bucket)
    return folder_ledger(Path(location))


def destroyed_key_record(*, talent_id: object, key_id: object, destroyed_at: datetime) -> None:
    """Write the ledger entry for a key about to be destroyed; raises LedgerUnavailable."""
    configured_ledger().record(DestroyedKey(talent_id=str(talent_id), key_id=str(key_id),
                                            destroyed_at=destroyed_at.isoformat()))
