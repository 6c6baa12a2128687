"""PostgreSQL restarted in the middle of a render, from a process of its own.

The test suite's Django connection stays on the shared server, so this runs as a child
process whose DATABASE_URL names a private cluster (tests/integration/private_services.py)
and whose environment is the worker's: it migrates, creates the personas, a license and a
render through the services, starts a real `celery worker` (with the beat schedule), waits
until the render is mid-way, stops PostgreSQL, leaves it down a moment, starts it again,
waits until the job ends, and prints as its last line one JSON object of what the
database, the storage and the audit log hold then. tests/integration/test_service_restarts.py
asserts it.

    python -m tests.integration.postgres_restart_driver '{"pg_root": ..., "pg_port": ..., ...}'
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import django

T = TypeVar("T")


def _retrying(read: Callable[[], T], *, timeout: float) -> T:
    """``read()`` once the database answers again; the connection a restart broke is dropped."""
    from django.db import Error, connection

    deadline = time.monotonic() + timeout
    while True:
        try:
            return read()
        except Error:
            connection.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait_for(read: Callable[[], T], done: Callable[[T], bool], *, timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = _retrying(read, timeout=max(1.0, deadline - time.monotonic()))
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}: {value}")
        time.sleep(0.1)


def _sha256(name: str) -> str | None:
    from django.core.files.storage import default_storage

    if not default_storage.exists(name):
        return None
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _findings(job_ids: list[str]) -> dict:
    from audit.checkpoints import audit_log_verify
    from audit.models import AuditEvent
    from consent.models import LicenseUse
    from generation.models import RenderJob, RenderOutput

    jobs = {}
    for job_id in job_ids:
        job = RenderJob.objects.get(pk=job_id)
        jobs[job_id] = {
            "status": job.status, "attempt": job.attempt, "outcome": job.outcome_code, "message": job.outcome_message,
            "outputs": [{"id": str(output.id), "sha256": output.sha256, "file_sha256": _sha256(output.file.name)}
                        for output in RenderOutput.objects.filter(job=job)],
            "uses": list(LicenseUse.objects.filter(job_ref=job_id).values_list("output_ref", flat=True)),
            "actions": list(AuditEvent.objects.filter(subject=job.audit_subject).order_by("id")
                            .values_list("action", flat=True)),
        }
    verification = audit_log_verify()
    return {
        "jobs": jobs,
        "outputs_without_use": list(RenderOutput.objects.exclude(
            id__in=[ref for ref in LicenseUse.objects.values_list("output_ref", flat=True)]).values_list("id", flat=True)),
        "unsealed_events": AuditEvent.objects.filter(seq__isnull=True).count(),
        "audit_ok": verification.ok,
        "audit_problems": list(verification.problems),
    }


def main(config: dict) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bespoke.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from audit.models import AuditEvent
    from generation.models import RenderJob
    from generation.services import render
    from tests.conftest import make_license, personas_create
    from tests.integration.private_services import BeatWorker, PrivatePostgres

    call_command("migrate", verbosity=0)
    personas = personas_create(get_user_model())
    license = make_license(personas)
    workdir = Path(config["workdir"])
    worker = BeatWorker("pg-restart", dict(os.environ), workdir / "worker.log")
    report: dict = {}
    try:
        worker.wait_ready()
        job = render.render_job_request(license_id=str(license.id), prompt=config["prompt"], params=config["params"],
                                        acting_user=personas.bob)
        job_id = str(job.id)

        def job_row() -> tuple[str, int]:
            return RenderJob.objects.values_list("status", "progress_step").get(pk=job_id)

        status, step = _wait_for(job_row, lambda row: row[1] >= config["restart_at_step"] or row[0] in RenderJob.TERMINAL,
                                 timeout=120, what="the render to be mid-way")
        report["restarted_at"] = {"status": status, "step": step}
        started = time.monotonic()
        PrivatePostgres.attach(Path(config["pg_root"]), config["pg_port"]).restart(
            config["mode"], down_seconds=config["down_seconds"])
        _wait_for(job_row, lambda row: row[0] in RenderJob.TERMINAL, timeout=150, what="the render to end")
        report["seconds_to_end"] = round(time.monotonic() - started, 1)
        # a render requested after the restart shows the worker serves new work, not only the job it held
        after = _retrying(lambda: render.render_job_request(
            license_id=str(license.id), prompt=config["prompt"], params=config["small_params"],
            acting_user=personas.bob), timeout=30)
        _wait_for(lambda: RenderJob.objects.values_list("status", flat=True).get(pk=after.id),
                  lambda value: value in RenderJob.TERMINAL, timeout=120, what="the render requested after the restart")
        report["seconds_to_next"] = round(time.monotonic() - started, 1)
        # the beat's seal catches up with events whose writer lost the database between commit and seal
        _wait_for(lambda: AuditEvent.objects.filter(seq__isnull=True).count(), lambda count: count == 0,
                  timeout=30, what="every audit event to be sealed")
        report["worker_alive"] = worker.process.poll() is None
        report |= _retrying(lambda: _findings([job_id, str(after.id)]), timeout=30)
        report["job_id"], report["after_id"] = job_id, str(after.id)
    except Exception:  # noqa: BLE001 - the test shows what went wrong with the worker's log
        report["error"] = traceback.format_exc()
    finally:
        worker.stop()
        report["worker_log_tail"] = worker.output()[-6000:]
    return report


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1])), default=str))
