"""Keyframe, then animate: the producer sees a keyframe (one still of the likeness) before any clip
is made from it, and either animates it or asks for another.

Both are render requests like any other (generation.services.render): gated, counted as a use
when published, refused outside the licensee. A keyframe is made from the prompt (`keyframe: true`);
its clip starts from it (`animate_keyframe`), image-to-video, and names it as a C2PA ingredient.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from core.errors import InvalidTransition
from generation.models import RenderJob
from generation.params import ANIMATE_KEYFRAME, CLIP_ONLY_PARAMS, KEYFRAME
from generation.services.jobs import requester_must_be_licensee
from generation.services.render import render_job_request

# What a clip takes over from the keyframe it animates, unless the request says otherwise.
INHERITED = ("width", "height", "steps", "guidance_scale", "seed", "likeness_weight")
SEED_LIMIT = 2**32


def _published_keyframe(job: RenderJob, acting_user: AbstractBaseUser) -> RenderJob:
    """The keyframe to answer; only those who may request renders under its license may answer it
    (anyone else is told it is not there), and only once it is published."""
    requester_must_be_licensee(license_id=str(job.license_id), acting_user=acting_user,
                               message="Only the licensee's producers can animate or redo a keyframe.")
    if not job.is_keyframe:
        raise InvalidTransition("This render is a clip, not a keyframe.")
    if job.status != RenderJob.Status.SUCCEEDED or not hasattr(job, "output"):
        raise InvalidTransition("This keyframe is not published yet.")
    return job


def keyframe_animate(*, job: RenderJob, acting_user: AbstractBaseUser, params: dict[str, Any] | None = None,
                     prompt: str | None = None) -> RenderJob:
    """Request the clip that animates the published keyframe of `job` (the producer approved it):
    the keyframe's prompt, size and likeness model unless `prompt` or `params` say otherwise."""
    job = _published_keyframe(job, acting_user)
    inherited = {name: job.params[name] for name in INHERITED if name in job.params}
    return render_job_request(
        license_id=str(job.license_id), prompt=job.prompt if prompt is None else prompt,
        negative_prompt=job.negative_prompt, acting_user=acting_user,
        likeness_model_id=str(job.likeness_model_id) if job.likeness_model_id else None,
        params={**inherited, **(params or {}), ANIMATE_KEYFRAME: str(job.output.id)})


def keyframe_redo(*, job: RenderJob, acting_user: AbstractBaseUser) -> RenderJob:
    """Request another keyframe in place of `job`'s (the producer did not approve it): the same
    prompt and parameters, a new seed."""
    job = _published_keyframe(job, acting_user)
    kept = {name: value for name, value in job.params.items() if name not in (*CLIP_ONLY_PARAMS, "seed", KEYFRAME)}
    seed = secrets.randbelow(SEED_LIMIT - 1)
    seed += seed >= job.params.get("seed", 0)  # any seed but the one that made this keyframe
    return render_job_request(
        license_id=str(job.license_id), prompt=job.prompt, negative_prompt=job.negative_prompt,
        acting_user=acting_user, likeness_model_id=str(job.likeness_model_id) if job.likeness_model_id else None,
        params={**kept, "seed": seed, KEYFRAME: True})
