"""Pointing this test process's Celery app (the portal's and the reaper's side) at another broker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings as django_settings


@contextmanager
def publishing_to(url: str, settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Jobs this process enqueues go to the broker at ``url`` meanwhile, then back.

    kombu keeps each broker's connection pools by URL for when it is used again, so the
    pools are let go, never closed: closing them would leave the shared broker's pool closed
    for every later test of the process ("Acquire on closed pool")."""
    from bespoke.celery import app

    amqp = url.startswith(("amqp://", "amqps://"))
    # broker_write_url: a CELERY_BROKER_URL in the environment outranks conf.broker_url
    visibility_timeout = 2 * django_settings.BESPOKE_RENDER_TIME_LIMIT_SECONDS
    changed = {"broker_write_url": url, "broker_transport_options": {"visibility_timeout": visibility_timeout},
               "task_queue_max_priority": 9 if amqp else app.conf["task_queue_max_priority"]}
    saved = {key: app.conf[key] for key in changed}

    def reset_connections() -> None:
        app._pool = None
        app.amqp._producer_pool = None
        for cached in ("queues", "router"):  # declared with the other broker's queue arguments
            app.amqp.__dict__.pop(cached, None)
        app.amqp._rtable = None

    app.conf.update(changed)
    if amqp:
        settings.BESPOKE_JOB_PRIORITIES = {"normal": 5, "speculative": 2}
    reset_connections()
    try:
        yield
    finally:
        app.conf.update(saved)
        reset_connections()
