"""Storing a file of this host's disk (a job's output, made in its temporary folder).

django-storages' S3Storage hands a saved file to boto3 as a file object, and boto3 reads
each multipart part of a file object into memory, up to ten 8 MiB parts at once: a 50 MB
output would sit in memory whole. Given the path instead, boto3 uploads part by part
from the disk. Other storages (the local filesystem) copy it in chunks anyway.
"""

from __future__ import annotations

from pathlib import Path

from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.core.files.utils import validate_file_name


def storage_save_path(name: str, path: Path, *, storage: Storage | None = None) -> str:
    """Store the local file `path` under `name` (or a free name like it, never replacing
    one); returns the stored name."""
    storage = storage or default_storage
    from storages.backends.s3 import S3Storage
    from storages.utils import clean_name

    if not isinstance(storage, S3Storage) or storage.gzip:
        with path.open("rb") as handle:
            return storage.save(name, File(handle))
    validate_file_name(name, allow_relative_path=True)
    name = clean_name(storage.get_available_name(name))
    key = storage._normalize_name(name)
    storage.bucket.Object(key).upload_file(str(path), ExtraArgs=storage._get_write_parameters(key),
                                           Config=storage.transfer_config)
    return name
