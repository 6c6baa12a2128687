"""The Celery application: configuration comes from Django settings (CELERY_*)."""

import logging
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bespoke.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

app = Celery("bespoke")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _schedule_audit_seal(sender: Celery, **_: object) -> None:
    """Each commit seals its own audit events; this seals those of a writer that stopped in between."""
    from django.conf import settings

    sender.add_periodic_task(float(settings.BESPOKE_REAPER_INTERVAL_SECONDS), sender.signature("audit.tasks.audit_seal"),
                             name="audit-seal", expires=float(settings.BESPOKE_REAPER_INTERVAL_SECONDS))


@worker_process_init.connect
def _preload_model(**_: object) -> None:
    """Load the pipeline in each pool process after the fork (CUDA must not be initialised
    before it), so the first job does not pay for it."""
    from django.conf import settings

    if not settings.BESPOKE_PRELOAD_MODEL:
        return
    from generation.pipeline.loading import ModelUnavailable, pipeline_cache
    from generation.services.render import model_spec

    try:
        pipeline_cache.get(model_spec())
    except ModelUnavailable as exc:
        logging.getLogger(__name__).error("model not preloaded: %s", exc)
