"""Real services for integration tests: PostgreSQL, Redis and `celery worker` subprocesses.

Without them these tests skip with the reason printed; with BESPOKE_REQUIRE_SERVICES=1
(as in .ci/run) a missing service fails the run instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


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


class Worker:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._terminated = False
        self._handle = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bespoke", "worker", "--queues", "gpu,default", "--concurrency", "1",
             "--pool", "prefork", "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=self._handle, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.output():
            assert self.process.poll() is None, f"worker {self.name} exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"worker {self.name} not ready:\n{self.output()}"
            time.sleep(0.2)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def terminate(self) -> None:
        """Ask for a warm shutdown (once): the worker finishes its task, then exits."""
        if self.process.poll() is None and not self._terminated:
            os.killpg(self.process.pid, signal.SIGTERM)
            self._terminated = True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._handle.close()


@pytest.fixture
def start_worker(settings, tiny_model, pki_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Worker]]:  # type: ignore[no-untyped-def]
    """Start real workers on the test database and the test broker; purge the queues first."""
    from bespoke.celery import app

    with app.connection_for_write() as broker:
        for queue in ("gpu", "default"):
            broker.default_channel.queue_purge(queue)
    db = connection.settings_dict
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BESPOKE_", "DJANGO_"))}
    env.update({
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "BESPOKE_DATA_DIR": str(tmp_path / "worker-data"),
        "BESPOKE_MEDIA_ROOT": str(media),
        "BESPOKE_MODEL_BASE": str(settings.BESPOKE_MODEL_BASE),
        "BESPOKE_MOTION_ADAPTER": str(settings.BESPOKE_MOTION_ADAPTER),
        "BESPOKE_DEVICE": "cpu",
        "BESPOKE_TORCH_THREADS": "1",
        "BESPOKE_PKI_DIR": str(pki_dir),
        "BESPOKE_PUBLIC_URL": settings.BESPOKE_PUBLIC_URL,
        "BESPOKE_RENDER_LEASE_SECONDS": "3",
        "BESPOKE_GATE_CHECK_EVERY_STEPS": "2",
        # the keys the test process seals likeness models and reads watermarks with, as a
        # deployment gives every process the same ones
        "BESPOKE_MASTER_KEY": settings.BESPOKE_MASTER_KEY,
        "BESPOKE_WATERMARK_KEY": settings.BESPOKE_WATERMARK_KEY.decode("utf-8"),
    })
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
