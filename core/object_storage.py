"""Storing a file of this host's disk (a job's output, made in its temporary folder), and
the S3 client for the buckets Bespoke writes itself (audit checkpoints, the destroyed-key
ledger).

django-storages' S3Storage hands a saved file to boto3 as a file object, and boto3 reads
each multipart part of a file object into memory, up to ten 8 MiB parts at once: a 50 MB
output would sit in memory whole. Given the path instead, boto3 uploads part by part
from the disk. Other storages (the local filesystem) copy it in chunks anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
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


def s3_client_for(bucket: str) -> Any:
    """A boto3 client for `bucket` of the configured store, made the way the media storage
    makes its own: the default storage's S3 options (endpoint, region, keys) when it is on
    S3, else the endpoint and region settings with boto3's own credential chain."""
    from storages.backends.s3 import S3Storage

    default = settings.STORAGES.get("default", {})
    if default.get("BACKEND") == "storages.backends.s3.S3Storage":
        options = {**default.get("OPTIONS", {}), "location": ""}
    else:
        endpoint = settings.BESPOKE_S3_ENDPOINT_URL
        options = {"endpoint_url": endpoint, "region_name": settings.BESPOKE_S3_REGION, "signature_version": "s3v4",
                   "addressing_style": "path" if endpoint else "auto"}
    options["bucket_name"] = bucket
    key = repr(sorted(options.items()))
    if key not in _clients:  # a client is thread-safe; making one costs a boto3 session
        _clients[key] = S3Storage(**options).connection.meta.client
    return _clients[key]


_clients: dict[str, Any] = {}
