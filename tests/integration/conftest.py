"""Real services for integration tests: PostgreSQL, Redis and `celery worker` subprocesses.

Without them these tests skip with the reason printed; with BESPOKE_REQUIRE_SERVICES=1
(as in .ci/run) a missing service fails the run instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.integration.object_store import object_store, s3_media  # noqa: F401 - fixtures
from tests.integration.workers import Worker, worker_environment



def _missing_services() -> str | None:
    if django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "DATABASE_URL does not point at PostgreSQL"
    if not django_settings.CELERY_BROKER_URL.startswith("redis://"):
        return "CELERY_BROKER_URL does not point at Redis"
    try:
        import redis

        redis.Redis.from_url(django_settings.CELERY_BROKER_URL, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means the service is not usable
        return f"Redis at {django_settings.CELERY_BROKER_URL} does not answer: {exc}"
    return None


@pytest.fixture(autouse=True)
def real_services() -> None:
    reason = _missing_services()
    if reason is None:
        return
    if os.environ.get("BESPOKE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"integration services required but unavailable: {reason}")
    pytest.skip(f"integration services unavailable: {reason}")


@pytest.fixture
def start_worker(settings, tiny_model, pki_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                 request: pytest.FixtureRequest) -> Iterator[Callable[..., Worker]]:
    """Start real workers on the test database and the test broker; purge the queues first.
    In a test that uses `s3_media` they store files in its bucket too."""
    from bespoke.celery import app

    with app.connection_for_write() as broker:
        for queue in ("gpu", "default"):
            broker.default_channel.queue_purge(queue)
    db = connection.settings_dict
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    env = worker_environment(
        database_url=f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        broker_url=settings.CELERY_BROKER_URL, data_dir=tmp_path / "worker-data", media_root=media,
        model_base=settings.BESPOKE_MODEL_BASE, motion_adapter=settings.BESPOKE_MOTION_ADAPTER, pki_dir=pki_dir,
        public_url=settings.BESPOKE_PUBLIC_URL, master_key=settings.BESPOKE_MASTER_KEY,
        watermark_key=settings.BESPOKE_WATERMARK_KEY.decode("utf-8"),
        render_lease_seconds="3", gate_check_every_steps="2")
    if "s3_media" in request.fixturenames:
        env.update(request.getfixturevalue("s3_media").worker_environment())
    workers: list[Worker] = []

    def start(name: str, *, wait: bool = True) -> Worker:
        """Start a worker; with ``wait=False`` it boots while the test goes on (call ``wait_ready``)."""
        worker = Worker(name, env, tmp_path / f"{name}.log")
        workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.terminate()  # all shut down together
    for worker in workers:
        worker.stop()
