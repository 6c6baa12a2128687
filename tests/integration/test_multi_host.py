"""Invariant 3 across hosts: worker hosts as network namespaces (tests.integration.hosts),
each running a real `celery worker`, one of them cut off by a network partition.

Every scenario ends with the same checks: exactly one output for the job, its object in
the store hashing to the output's sha256, no object in the bucket that no output refers
to, the job's attempts and audit trail as expected, and the audit chain intact.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from bespoke import seaweedfs
from consent.models import LicenseUse
from generation.models import RenderJob, RenderOutput
from generation.services import render as services
from tests.integration.brokers import publishing_to
from tests.integration.hosts import HostNetwork, HostWorker, unavailable, wait_for, worker_environment
from tests.integration.object_store import S3Media

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RENDER = {"num_frames": 4, "width": 128, "height": 128, "steps": 16, "guidance_scale": 0.0, "fps": 4}
PROMPT = "sks person walking through a market at dusk"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
QUEUES = ("gpu", "default")


@pytest.fixture(scope="module")
def network(object_store: seaweedfs.ObjectStore, dev_tsa: object) -> Iterator[HostNetwork]:
    """Two worker hosts with forwarders to PostgreSQL, Redis, RabbitMQ, the object store and the
    dev time-stamping authority."""
    reason = unavailable()
    if reason is not None:
        if os.environ.get("BESPOKE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"worker hosts required but unavailable: {reason}")
        pytest.skip(f"worker hosts unavailable: {reason}")
    database = django_settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("worker hosts need PostgreSQL")  # the autouse real_services fixture fails it under CI
    services = {"postgres": int(database["PORT"] or 5432), "redis": urlsplit(django_settings.CELERY_BROKER_URL).port,
                "rabbitmq": urlsplit(RABBITMQ_URL).port, "store": urlsplit(object_store.endpoint_url).port,
                "tsa": urlsplit(os.environ["BESPOKE_TSA_URL"]).port}
    with HostNetwork(hosts=2, services=services) as network:
        yield network


def _purge_queues() -> None:
    from bespoke.celery import app

    with app.connection_for_write() as broker:
        for queue in QUEUES:
            try:
                broker.default_channel.queue_purge(queue)
            except broker.channel_errors:  # a queue RabbitMQ never declared holds nothing
                broker.close()
                broker.ensure_connection()


def _require_rabbitmq() -> None:
    from kombu import Connection

    try:
        with Connection(RABBITMQ_URL, connect_timeout=3) as probe:
            probe.ensure_connection(max_retries=1)
    except Exception as error:  # noqa: BLE001 - any failure means the service is not usable
        if os.environ.get("BESPOKE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"RabbitMQ required but unavailable at {RABBITMQ_URL}: {error}")
        pytest.skip(f"RabbitMQ unavailable at {RABBITMQ_URL}: {error}")


@pytest.fixture
def broker_url(request, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The broker the test names (``redis``, the test's own, or ``rabbitmq``), purged before and after."""
    url = settings.CELERY_BROKER_URL if request.param == "redis" else RABBITMQ_URL
    if request.param == "rabbitmq":
        _require_rabbitmq()
    with publishing_to(url, settings):
        _purge_queues()
        yield url
        _purge_queues()


@pytest.fixture
def start_host_worker(network: HostNetwork, s3_media: S3Media, settings, tiny_model,  # type: ignore[no-untyped-def]
                      pki_dir: Path, tmp_path: Path) -> Iterator[Callable[..., HostWorker]]:
    """Start a real worker in one of the hosts, on the test database, the given broker and
    the test's bucket; afterwards the hosts are whole again and the workers stopped."""
    db = connection.settings_dict
    database_url = (f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@127.0.0.1:{db['PORT'] or 5432}/{db['NAME']}")
    workers: list[HostWorker] = []

    def start(index: int, broker: str) -> HostWorker:
        host = network.hosts[index]
        env = worker_environment(host, settings=settings, database_url=database_url, broker_url=broker,
                                 data_dir=tmp_path / f"{host.name}-data",
                                 s3=s3_media.worker_environment())
        worker = HostWorker(host, f"w{index}", env=env, log=tmp_path / f"{host.name}.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.host.restore()
        worker.host.unblock("store")
    for worker in workers:
        worker.stop()


def _request(license, personas, params=RENDER) -> RenderJob:  # type: ignore[no-untyped-def]
    return services.render_job_request(license_id=str(license.id), prompt=PROMPT, params=params,
                                       acting_user=personas.bob)


def _job_when(job: RenderJob, condition: Callable[[RenderJob], bool], timeout: float, what: str,
              also: Callable[[], None] = lambda: None) -> RenderJob:
    def check() -> RenderJob | None:
        also()
        job.refresh_from_db()
        return job if condition(job) else None

    return wait_for(check, timeout=timeout, what=what, interval=0.02)


def _worker_pid(job: RenderJob) -> int:
    return int(job.worker.rsplit(":", 1)[1])


def _no_output_without_its_object() -> None:
    for output in RenderOutput.objects.all():
        assert default_storage.exists(output.file.name), f"output {output.id} points at a missing object"


def _downloaded_from_portal(client, user, job: RenderJob) -> bytes:  # type: ignore[no-untyped-def]
    """The output as the portal hands it to ``user``: a pre-signed URL of the object, or the bytes."""
    client.force_login(user)
    response = client.get(reverse("portal-render-download", args=[job.id]))
    if response.status_code == 302:
        with urllib.request.urlopen(response["Location"], timeout=10) as answer:
            return answer.read()
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content)


def _assert_published_once(job: RenderJob, s3_media: S3Media, portal: tuple[object, object], *, attempt: int,
                           actions: list[str]) -> None:
    """The checks every scenario ends with; ``portal`` is a test client and the producer."""
    job.refresh_from_db()
    assert (job.status, job.attempt) == (RenderJob.Status.SUCCEEDED, attempt), job.outcome_message
    output = RenderOutput.objects.get(job=job)
    assert hashlib.sha256(_downloaded_from_portal(*portal, job)).hexdigest() == output.sha256
    assert s3_media.keys() == [output.file.name], "an object no output refers to is in the store"
    assert LicenseUse.objects.filter(license_id=job.license_id).count() == 1
    trail = AuditEvent.objects.filter(subject=job.audit_subject).order_by("seq").values_list("action", flat=True)
    assert list(trail) == actions
    assert audit_chain_verify().ok


CUT_WHILE_DENOISING = "while denoising"
CUT_BEFORE_PUBLISHING = "after the last denoising step, before publishing"


@pytest.mark.parametrize(("broker_url", "cut_when"), [
    pytest.param("redis", CUT_BEFORE_PUBLISHING, id="redis-cut-before-publishing"),
    pytest.param("rabbitmq", CUT_WHILE_DENOISING, id="rabbitmq-cut-while-denoising"),
], indirect=["broker_url"])
def test_a_host_cut_off_mid_render_is_replaced_and_its_late_publication_fenced_off(
        cut_when, broker_url, network, s3_media, start_host_worker, personas, active_license, client):  # type: ignore[no-untyped-def]
    """The host rendering a job is partitioned off (on Redis after its last denoising step, so
    that it goes on to publish once the partition ends; on RabbitMQ while denoising): its lease
    expires, the reaper requeues the job, the other host publishes it, and once the partition
    ends the cut-off worker's late writes are refused by the fencing token, storing nothing."""
    workers = [start_host_worker(0, broker_url), start_host_worker(1, broker_url)]
    for worker in workers:
        worker.wait_ready()
    job = _request(active_license, personas)
    if cut_when == CUT_WHILE_DENOISING:
        job = _job_when(job, lambda j: j.progress_step >= 3, 120, "the render to start")
    else:
        job = _job_when(job, lambda j: j.progress_total and j.progress_step == j.progress_total, 120,
                        "the last denoising step")
    cut_off = network.host_of(_worker_pid(job))
    cut_off.cut()
    stale = next(worker for worker in workers if worker.host is cut_off)
    other = next(worker for worker in workers if worker is not stale)

    job.refresh_from_db()
    assert (job.status, job.attempt) == (RenderJob.Status.RUNNING, 1), "the cut came too late"
    wait_for(lambda: timezone.now() > job.lease_expires_at, timeout=30, what="the lease to expire", interval=0.1)
    assert services.render_jobs_reap()["requeued"] == 1
    job = _job_when(job, lambda j: j.status in RenderJob.TERMINAL, 120, "the other host to publish",
                    also=_no_output_without_its_object)
    assert other.host.owns(_worker_pid(job)), "the job was taken over by the host still connected"

    cut_off.restore()
    # Its own attempt, not any task it finishes: a message an earlier test's killed worker left
    # unacknowledged can come back to it first (it finds nothing to do).
    wait_for(lambda: f"render {job.id} attempt 1 stopped" in stale.output(), timeout=120,
             what="the cut-off worker's late attempt to end", interval=0.2)
    late = stale.output()
    assert f"render {job.id} attempt 1 stopped: lease_lost" in late, late
    if cut_when == CUT_BEFORE_PUBLISHING:
        assert f"render {job.id} screened by" in late, "the cut-off worker went on to label and publish"
    _assert_published_once(job, s3_media, (client, personas.bob), attempt=2, actions=[
        "render.requested", "render.claimed", "render.requeued", "render.claimed", "render.published"])


def test_an_unreachable_store_at_publication_means_a_later_attempt_publishes(
        s3_media, start_host_worker, personas, active_license, settings, client):  # type: ignore[no-untyped-def]
    """The worker's host loses the object store as it publishes: the attempt fails with
    nothing published, the job is retried, and once the store is back it is published once;
    at no moment does an output row point at a missing object."""
    _purge_queues()
    worker = start_host_worker(0, settings.CELERY_BROKER_URL)
    worker.wait_ready()
    job = _request(active_license, personas)
    job = _job_when(job, lambda j: j.progress_total and j.progress_step == j.progress_total, 120,
                    "the last denoising step")
    worker.host.block("store")

    def attempt_failed() -> bool:
        _no_output_without_its_object()
        return AuditEvent.objects.filter(subject=job.audit_subject, action="render.attempt_failed").exists()

    wait_for(attempt_failed, timeout=120, what="the publication to fail", interval=0.05)
    assert not RenderOutput.objects.exists() and not s3_media.keys()
    worker.host.unblock("store")
    job = _job_when(job, lambda j: j.status in RenderJob.TERMINAL, 120, "the retry to publish",
                    also=_no_output_without_its_object)
    _assert_published_once(job, s3_media, (client, personas.bob), attempt=2, actions=[
        "render.requested", "render.claimed", "render.attempt_failed", "render.claimed", "render.published"])
    assert "attempt 1 crashed" in worker.output()
