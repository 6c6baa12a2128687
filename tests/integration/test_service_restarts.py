"""The broker and the database restarted under running jobs (invariant 3).

Each scenario runs its own Redis or PostgreSQL (tests/integration/private_services.py),
restarts it while real workers render, and then checks what users rely on: every job ends
once, with exactly one output whose stored file hashes to the recorded sha256, consent's use
record of each publication, and an audit log that verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.db import connection

from audit.checkpoints import audit_log_verify
from audit.models import AuditEvent
from consent.models import LicenseUse
from generation.models import RenderJob, RenderOutput
from generation.services import render
from tests.integration.brokers import publishing_to
from tests.integration.workers import ROOT, Worker
from tests.integration.private_services import BeatWorker, PrivatePostgres, PrivateRedis, worker_environment

pytestmark = [pytest.mark.integration]

PROMPT = "sks person walking through a market at dusk"
RENDER = {"num_frames": 8, "width": 128, "height": 128, "steps": 24, "fps": 8}
SMALL_RENDER = {"num_frames": 4, "width": 128, "height": 128, "steps": 4, "fps": 4}
# Short enough that the product's own schedule rescues a lost job within the test.
SCHEDULE = {"RENDER_LEASE_SECONDS": "3", "GATE_CHECK_EVERY_STEPS": "2", "REAPER_INTERVAL_SECONDS": "1",
            "REQUEUE_QUEUED_AFTER_SECONDS": "4"}


def _stored_sha256(name: str) -> str | None:
    if not default_storage.exists(name):
        return None
    with default_storage.open(name, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _wait(read: Callable[[], object], done: Callable[[object], bool], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        time.sleep(0.1)
    return value


def _stored_files(folder: str) -> list[str]:
    folders, files = default_storage.listdir(folder)
    return [f"{folder}/{name}" for name in files] + [
        name for sub in folders for name in _stored_files(f"{folder}/{sub}")]


def _render_messages(broker: PrivateRedis) -> list[bytes]:
    """The render queue's lists (one per priority step) that hold messages."""
    import redis

    return [key for key in redis.Redis.from_url(broker.url).keys("*") if key.startswith(b"gpu")]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis().start()
    yield redis
    redis.kill()


@pytest.fixture
def private_broker(private_redis: PrivateRedis, settings) -> Iterator[PrivateRedis]:  # type: ignore[no-untyped-def]
    """The private Redis as this process's broker too (the services enqueue through it)."""
    settings.CELERY_BROKER_URL = private_redis.url
    with publishing_to(private_redis.url, settings):
        yield private_redis


@pytest.fixture
def start_beat_worker(private_broker: PrivateRedis, settings, tiny_model_root: Path, pki_dir: Path,  # type: ignore[no-untyped-def]
                      tmp_path: Path) -> Iterator[Callable[[str], Worker]]:
    """Real workers running the beat schedule, on the test database and the private broker."""
    db = connection.settings_dict
    env = worker_environment(
        database_url=f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        broker_url=private_broker.url, data_dir=tmp_path / "worker-data", media_root=Path(settings.MEDIA_ROOT),
        model_root=tiny_model_root, pki_dir=pki_dir, master_key=settings.BESPOKE_MASTER_KEY,
        watermark_key=settings.BESPOKE_WATERMARK_KEY.decode("utf-8"), **SCHEDULE)
    workers: list[Worker] = []

    def start(name: str) -> Worker:
        worker = BeatWorker(name, env, tmp_path / f"{name}.log")
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


def _status(job: RenderJob) -> tuple[str, int, int]:
    job.refresh_from_db()
    return job.status, job.progress_step, job.attempt


@pytest.mark.django_db(transaction=True)
def test_redis_restarted_with_jobs_queued_and_running_loses_none_and_publishes_each_once(
        personas, active_license, private_broker, start_beat_worker):  # type: ignore[no-untyped-def]
    worker = start_beat_worker("broker-restart")
    jobs = [render.render_job_request(license_id=str(active_license.id), prompt=PROMPT, params=RENDER,
                                      acting_user=personas.bob) for _ in range(3)]
    running = _wait(lambda: [job for job in jobs if _status(job)[1] >= 2], bool, 120, "a render to be mid-way")[0]
    waiting = [job for job in jobs if job is not running]
    assert all(_status(job)[0] == RenderJob.Status.QUEUED for job in waiting)

    private_broker.restart()  # every queued message, and the running job's unacknowledged one, is gone
    assert not _render_messages(private_broker)

    _wait(lambda: [_status(job)[0] for job in jobs], lambda states: all(s in RenderJob.TERMINAL for s in states),
          150, "every render to end")
    assert worker.process.poll() is None, "the worker survived the broker's restart"
    for job in jobs:
        job.refresh_from_db()
        assert job.status == RenderJob.Status.SUCCEEDED, (job.outcome_message, worker.output()[-4000:])
        outputs = list(RenderOutput.objects.filter(job=job))
        assert len(outputs) == 1
        assert _stored_sha256(outputs[0].file.name) == outputs[0].sha256
        assert list(LicenseUse.objects.filter(job_ref=str(job.id)).values_list("output_ref", flat=True)) == \
            [str(outputs[0].id)]
        assert AuditEvent.objects.filter(subject=job.audit_subject, action="render.published").count() == 1
    # the running render went on through the broker's restart: its first attempt published
    running.refresh_from_db()
    assert running.attempt == 1
    assert len(_stored_files("renders")) == 3, "no stray file of a second publication"
    _wait(lambda: AuditEvent.objects.filter(seq__isnull=True).count(), lambda pending: pending == 0, 10,
          "every audit event to be sealed")
    verification = audit_log_verify()
    assert verification.ok, verification.problems


@pytest.mark.django_db(transaction=True)
def test_a_pool_process_killed_mid_render_is_replaced_and_the_job_publishes_once(
        personas, active_license, start_beat_worker):  # type: ignore[no-untyped-def]
    # What a broker connection loss does when the worker cancels running tasks (Celery 6's
    # default), a time-limit kill or the kernel's OOM killer do: the pool process dies and a new
    # one, which loads the model before it reports for work, must be let to start.
    worker = start_beat_worker("replaced")
    job = render.render_job_request(license_id=str(active_license.id), prompt=PROMPT, params=RENDER,
                                    acting_user=personas.bob)
    _wait(lambda: _status(job), lambda state: state[1] >= 2, 120, "the render to be mid-way")
    os.kill(int(job.worker.rsplit(":", 1)[1]), signal.SIGKILL)

    _wait(lambda: _status(job), lambda state: state[0] in RenderJob.TERMINAL, 150, "the render to end")
    assert job.status == RenderJob.Status.SUCCEEDED, (job.outcome_message, worker.output()[-4000:])
    assert job.attempt == 2
    outputs = list(RenderOutput.objects.filter(job=job))
    assert len(outputs) == 1 and _stored_sha256(outputs[0].file.name) == outputs[0].sha256
    assert list(LicenseUse.objects.filter(job_ref=str(job.id)).values_list("output_ref", flat=True)) == \
        [str(outputs[0].id)]
    assert "Timed out waiting for UP message" not in worker.output()
    _wait(lambda: AuditEvent.objects.filter(seq__isnull=True).count(), lambda pending: pending == 0, 10,
          "every audit event to be sealed")
    assert audit_log_verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_publication_whose_commit_reply_is_lost_keeps_its_file(personas, active_license, tmp_path):  # type: ignore[no-untyped-def]
    # PostgreSQL may commit and then go away before its reply reaches the worker: the worker
    # sees an error, yet the output row is there, and so must its file be.
    from django.db import OperationalError, connections

    from audit.services import audit_seal
    from tests.publishing import publish, running_job, signed_clip

    job = running_job(license_id=str(active_license.id), producer=personas.bob)
    clip = signed_clip(tmp_path / "clip", license_id=str(active_license.id))
    database = connections["default"]

    def commit_then_lose_the_reply() -> None:
        del database._commit  # the next commits are plain ones
        database._commit()
        raise OperationalError("server closed the connection unexpectedly")

    database._commit = commit_then_lose_the_reply
    try:
        with pytest.raises(OperationalError):
            publish(job, clip)
    finally:
        database.__dict__.pop("_commit", None)

    output = RenderOutput.objects.get(job=job)
    assert _stored_sha256(output.file.name) == output.sha256
    assert list(LicenseUse.objects.filter(job_ref=str(job.id)).values_list("output_ref", flat=True)) == [str(output.id)]
    audit_seal()  # what the beat's audit-seal does for events whose writer lost its seal after commit
    assert audit_log_verify().ok


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    postgres = PrivatePostgres().start()
    yield postgres
    postgres.destroy()


def test_postgres_crashed_mid_render_finishes_the_job_once_with_its_use_record(
        private_postgres, private_redis, tiny_model_root, pki_dir, settings, tmp_path):  # type: ignore[no-untyped-def]
    # The test database lives on the shared server, which must not restart: the scenario runs
    # in a child process on a private cluster (an immediate stop, as a crash, then 2 s down),
    # and this test asserts what it reports.
    env = worker_environment(
        database_url=private_postgres.create_database("bespoke"), broker_url=private_redis.url,
        data_dir=tmp_path / "data", media_root=tmp_path / "media", model_root=tiny_model_root, pki_dir=pki_dir,
        master_key=settings.BESPOKE_MASTER_KEY, watermark_key=settings.BESPOKE_WATERMARK_KEY.decode("utf-8"),
        **SCHEDULE)
    config = {"pg_root": str(private_postgres.root), "pg_port": private_postgres.port, "mode": "immediate",
              "down_seconds": 2, "restart_at_step": 4, "prompt": PROMPT, "params": RENDER,
              "small_params": SMALL_RENDER, "workdir": str(tmp_path)}
    child = subprocess.run([sys.executable, "-m", "tests.integration.postgres_restart_driver", json.dumps(config)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=360)
    assert child.returncode == 0 and child.stdout.strip(), child.stderr[-4000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert "error" not in report, report["error"] + report["worker_log_tail"]

    assert report["restarted_at"]["status"] == RenderJob.Status.RUNNING, "the restart came in the middle of the render"
    assert report["worker_alive"], report["worker_log_tail"]
    for job_id in (report["job_id"], report["after_id"]):
        job = report["jobs"][job_id]
        assert job["status"] == RenderJob.Status.SUCCEEDED, (job, report["worker_log_tail"])
        assert len(job["outputs"]) == 1, job
        output = job["outputs"][0]
        assert output["file_sha256"] == output["sha256"], "the stored file is the one recorded"
        assert job["uses"] == [output["id"]], "the publication has its use record"
        assert job["actions"].count("render.published") == 1, job["actions"]
    assert report["outputs_without_use"] == []
    assert report["unsealed_events"] == 0
    assert report["audit_ok"], report["audit_problems"]
