"""A real S3-compatible object store for tests: SeaweedFS, or the store CI names.

`object_store` (session): the store at BESPOKE_TEST_S3_ENDPOINT_URL when set (`.ci/run`
starts one), else a private SeaweedFS from the virtual environment's `weed` on a free port.
`s3_media` (function): a fresh private bucket as the "default" storage of this process and
of the workers `start_worker` starts in the test; emptied and deleted afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bespoke.seaweedfs import ObjectStore, SeaweedFSError, empty_and_delete_bucket, ensure_bucket, start, stop_process


@dataclass(frozen=True)
class S3Media:
    store: ObjectStore
    bucket: str

    def keys(self) -> list[str]:
        """Every object name in the bucket, sorted."""
        pages = self.store.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.store.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def worker_environment(self) -> dict[str, str]:
        """What a worker process needs to use the same bucket (settings read them at start)."""
        return {"BESPOKE_S3_BUCKET": self.bucket, "BESPOKE_S3_ENDPOINT_URL": self.store.endpoint_url,
                "BESPOKE_S3_REGION": self.store.region, "BESPOKE_S3_ACCESS_KEY_ID": self.store.access_key,
                "BESPOKE_S3_SECRET_ACCESS_KEY": self.store.secret_key}


def _free_s3_port() -> int:
    """A port whose next three (the store's other servers) and their +10000 gRPC ports are free too."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 10003 > 65535:
            continue
        wanted = [port, port + 1, port + 2, port + 3, port + 10001, port + 10002, port + 10003]
        if all(_port_free(each) for each in wanted):
            return port
    raise SeaweedFSError("no free port range for SeaweedFS")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    endpoint = os.environ.get("BESPOKE_TEST_S3_ENDPOINT_URL")
    if endpoint:
        yield ObjectStore(endpoint_url=endpoint)
        return
    data_dir: Path = tmp_path_factory.mktemp("seaweedfs")
    port = _free_s3_port()
    try:
        process = start(data_dir, s3_port=port)
    except SeaweedFSError as error:
        if os.environ.get("BESPOKE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"object store required but unavailable: {error}")
        pytest.skip(f"object store unavailable: {error}")
    try:
        yield ObjectStore(endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        stop_process(process)


@pytest.fixture
def s3_media(object_store: ObjectStore, settings) -> Iterator[S3Media]:  # type: ignore[no-untyped-def]
    from bespoke.settings import s3_storage_options

    media = S3Media(store=object_store, bucket=f"test-media-{uuid.uuid4().hex[:12]}")
    ensure_bucket(object_store, media.bucket)
    options = {**s3_storage_options(bucket=media.bucket), "endpoint_url": object_store.endpoint_url,
               "region_name": object_store.region, "access_key": object_store.access_key,
               "secret_key": object_store.secret_key, "addressing_style": "path"}
    # Django's setting_changed handler rebuilds `storages` and `default_storage` on this
    # change and on its undoing by `settings` after the test.
    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}}
    try:
        yield media
    finally:
        empty_and_delete_bucket(object_store, media.bucket)
