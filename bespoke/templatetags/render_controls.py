"""What a render's progress fragment may offer the viewer: cancel (only to those the
service allows), the time left at the step rate so far, and, for a published keyframe,
animate or redo (only to those who may request renders under its license)."""

from __future__ import annotations

from typing import Any

from django import template

from consent import gate
from generation import selectors
from generation.models import RenderJob

register = template.Library()

CANCELLABLE = (RenderJob.Status.QUEUED, RenderJob.Status.RUNNING, RenderJob.Status.AWAITING_APPROVAL)


@register.simple_tag(takes_context=True)
def render_controls(context: dict[str, Any], job: RenderJob) -> dict[str, Any]:
    user = context.get("user")
    return {
        "can_cancel": job.status in CANCELLABLE and not job.cancel_requested and user is not None
        and selectors.job_cancellable_by(job=job, user=user),
        "seconds_left": selectors.job_seconds_left(job),
        "can_decide_keyframe": job.is_keyframe and job.status == RenderJob.Status.SUCCEEDED and user is not None
        and user.is_authenticated and gate.requester_may_request(user_id=user.pk, license_id=str(job.license_id)),
    }


@register.filter
def duration(seconds: int | None) -> str:
    """12 -> "12 s", 95 -> "1 min 35 s", 3700 -> "1 h 1 min"."""
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
