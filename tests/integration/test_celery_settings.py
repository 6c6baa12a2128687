"""Invariant 3's Celery settings, read back from a running `celery worker` over the broker:
what the worker process actually uses, not what the settings module says."""

from __future__ import annotations

import re
import socket

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _only_reply(replies: dict | None, hostname: str) -> dict:
    assert replies and set(replies) == {hostname}, f"no answer from {hostname}: {replies}"
    return replies[hostname]


def test_the_running_worker_acks_late_prefetches_one_and_speaks_only_json(start_worker):
    from bespoke.celery import app

    start_worker("inspected")
    hostname = f"inspected@{socket.gethostname()}"
    inspect = app.control.inspect(destination=[hostname], timeout=10)
    conf = _only_reply(inspect.conf(with_defaults=True), hostname)
    stats = _only_reply(inspect.stats(), hostname)

    # A job's message is acknowledged only when the task ends, and given back if the process dies.
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    # One message at a time per process: a long render holds no others hostage.
    assert conf["worker_prefetch_multiplier"] == 1
    assert stats["prefetch_count"] == stats["pool"]["max-concurrency"] == 1
    # Messages carry ids as JSON, never pickles; there are no results to store.
    assert conf["accept_content"] == ["json"]
    assert (conf["task_serializer"], conf["result_serializer"]) == ("json", "json")
    assert conf["task_ignore_result"] is True
    # Redis hands an unacknowledged message to another worker after the visibility timeout:
    # it must outlast the longest a job may run, or a running job would start twice.
    visibility_timeout = conf["broker_transport_options"]["visibility_timeout"]
    assert conf["task_time_limit"] and visibility_timeout > conf["task_time_limit"]
    registered = _only_reply(inspect.registered("time_limit"), hostname)
    assert {"generation.tasks.render_job_run", "generation.tasks.training_job_run"} <= {
        entry.split()[0] for entry in registered}
    for entry in registered:  # e.g. "generation.tasks.render_job_run [time_limit=3600]"
        limit = re.search(r"time_limit=(\d+)", entry)
        assert limit and int(limit.group(1)) < visibility_timeout, f"{entry} may outlast the visibility timeout"
