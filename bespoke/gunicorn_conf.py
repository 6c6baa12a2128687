"""gunicorn's settings for the portal: `gunicorn -c python:bespoke.gunicorn_conf bespoke.wsgi`.

Command-line options (workers, threads, bind) still apply on top of these.
"""

from __future__ import annotations

import gc
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Before a worker serves: connect to the broker and load what sending a task uses (its
    result backend and events), as a render request does to queue its job. Otherwise a
    worker's first render request imports the broker's client and Celery's sending side
    (0.7-1.2 s on a 2-core machine) while the requests behind it on that worker wait."""
    from bespoke.celery import app

    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)
    app.backend, app.events.Dispatcher, app.Task  # noqa: B018 (each loads on first use)
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view, as the first request would)
    # Everything loaded so far (Django, the apps, the views, DRF, Celery) lives as long as the worker: out of
    # the collector's sight, a full collection no longer walks it, a pause that otherwise lands
    # on whichever request happens to trigger it.
    gc.freeze()
