"""Where signed audit checkpoints are kept: a local folder, or a bucket of the object store.

Either is a write-once store (core.write_once_store): a checkpoint's name, once written, is
never replaced. The bucket is used when BESPOKE_S3_CHECKPOINT_BUCKET is set (it defaults to
the media bucket, BESPOKE_S3_BUCKET), under the `audit-checkpoints/` prefix, and should keep
object versions, so even a forced overwrite leaves the signed original behind.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from core.object_storage import s3_client_for
from core.write_once_store import BucketStore, FolderStore, WriteOnceStore
from core.write_once_store import WriteOnceStoreError as CheckpointStoreError

OBJECT_PREFIX = "audit-checkpoints/"

CheckpointStore = WriteOnceStore

__all__ = ["OBJECT_PREFIX", "CheckpointStore", "CheckpointStoreError", "checkpoint_store"]


def checkpoint_store() -> CheckpointStore:
    """The store the settings name: the checkpoint bucket when one is set, else the folder."""
    bucket = getattr(settings, "BESPOKE_S3_CHECKPOINT_BUCKET", None)
    if not bucket:
        return FolderStore(Path(settings.BESPOKE_AUDIT_CHECKPOINT_DIR))
    return BucketStore(bucket, s3_client_for(bucket), prefix=OBJECT_PREFIX)
