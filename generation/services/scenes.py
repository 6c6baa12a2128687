"""Scenes of interactive stories: one render under several licenses, one for each role in it.

A scene casts each role under its own license (a talent's negotiated license, the viewer's
own consent) and is a render like any other: the gate is asked about every role's use at
request, claim, every few steps and, for every license at once, in the publishing
transaction (generation.services.render). A scene rendered ahead of the viewer's choice is
speculative: sent at a lower priority, and re-sent at the normal one once chosen.

A scene whose cast includes a license asking to approve each use (a viewer may ask it of
their own consent) waits for that approval, as any render does; a scene waits for one
approval at most, so a cast with two such licenses is refused at request.

A scene may continue from an earlier scene (`continue_from`, the earlier scene's output):
it then renders image-to-video from that scene's last frame, and the earlier scene becomes
an ingredient (`inputTo`) of its manifest. The earlier output must be a published scene of
the same story requested by the same person, and every license it was made under must be
in the new scene's cast, since its last frame carries those likenesses
(generation.services.continuity); anything else is refused before anything is written.
A scene that asked to continue but starts from its prompt alone says why (`not_continued`,
recorded with its request).
"""

from __future__ import annotations

import dataclasses
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from audit.actors import user_actor
from audit.services import audit_append
from consent import gate
from consent.approvals import use_approval_request
from consent.selectors import licensee_ids_of_licenses
from core.errors import NotAllowed, ValidationFailed
from generation.models import RenderCast, RenderJob
from generation.params import (
    CONTINUE_FROM,
    RenderParams,
    prompt_clean,
    render_params_parse,
)
from generation.services.continuity import scene_continuation_check
from generation.services.jobs import JobUse
from generation.services.leases import enqueue_on_commit, locked_job
from generation.services.render import MEDIUM_VIDEO, RENDERS

_ROLE = re.compile(r"[-a-zA-Z0-9_]+")
_ROLE_MAX = RenderCast._meta.get_field("role").max_length
NOT_FOUND = "No such license among those you may request scenes under."


@dataclass(frozen=True)
class CastMember:
    role: str
    license_id: str
    likeness_model_id: str | None = None


def scene_render_request(*, cast: Sequence[CastMember], prompt: str, story_id: str, seconds: float | None = None,
                         params: dict | None = None, speculative: bool = False, continue_from: str | None = None,
                         not_continued: str = "", acting_user: AbstractBaseUser) -> RenderJob:
    """Queue the render of a scene with every role played under its own license, from its
    prompt alone or continuing from the last frame of an earlier scene's output
    (`continue_from`); `not_continued` records why a scene that asked to continue does not.

    Bad input raises ValidationFailed and a requester who may not ask for it NotAllowed
    (not_found), both before anything is written; a refusal by the gate of any role's use
    raises `gate.ConsentRefused` naming the role, with only the gate's audit record written.
    """
    prompt = prompt_clean(prompt)
    render_params = render_params_parse(_with_length(params, seconds))
    members = _cast_clean(cast)
    story = _uuid(story_id, field="story_id", message="Unknown story.")
    _requester_may_request(members, acting_user)
    stored_params = render_params.as_dict()
    if continue_from is not None:
        earlier = _uuid(continue_from, field=CONTINUE_FROM,
                        message=f"{CONTINUE_FROM} must be the id of an earlier scene's output to continue from.")
        scene_continuation_check(output_id=earlier, story_id=story, requested_by_id=acting_user.pk,
                                 cast={member.role: member.license_id for member in members},
                                 likeness=any(member.likeness_model_id for member in members))
        stored_params[CONTINUE_FROM] = earlier
        not_continued = ""
    approving = [member for member in members if gate.use_requires_approval(license_id=member.license_id)]
    if len(approving) > 1:
        raise ValidationFailed(f"roles {', '.join(m.role for m in approving)}: more than one license asks to approve "
                               "each use; a scene waits for one approval at most.", field="cast",
                               code="use_approval_required")
    uses = [JobUse(gate.UseRequest(license_id=member.license_id, medium=MEDIUM_VIDEO, prompt=prompt,
                                   likeness_model_id=member.likeness_model_id, interactive=True, story_id=story),
                   role=member.role)
            for member in sorted(members, key=lambda member: member.license_id)]

    def create(actor: str) -> RenderJob:
        job = RenderJob.objects.create(
            license_id=members[0].license_id, requested_by=acting_user, medium=MEDIUM_VIDEO, prompt=prompt,
            params=stored_params, max_attempts=settings.BESPOKE_RENDER_MAX_ATTEMPTS,
            status=RenderJob.Status.AWAITING_APPROVAL if approving else RenderJob.Status.QUEUED, interactive=True,
            story_id=story, speculative=bool(speculative))
        RenderCast.objects.bulk_create([
            RenderCast(job=job, role=member.role, license_id=member.license_id,
                       likeness_model_id=member.likeness_model_id) for member in members])
        audit_append(action="render.requested", actor=actor, subject=job.audit_subject,
                     data={"license": members[0].license_id, "params": stored_params,
                           "cast": {member.role: member.license_id for member in members},
                           "likeness_models": {member.role: member.likeness_model_id for member in members},
                           "story": story, "speculative": bool(speculative),
                           "awaits_approval": approving[0].role if approving else None,
                           **({"not_continued": str(not_continued)[:500]} if not_continued else {})})
        if approving:
            use_approval_request(license_id=approving[0].license_id, job_ref=str(job.id), prompt=prompt,
                                 params=stored_params, acting_user=acting_user)
        return job

    return RENDERS.request(uses=uses, acting_user=acting_user, create=create)


def scene_render_prioritise(*, job: RenderJob, acting_user: AbstractBaseUser | None = None) -> None:
    """The viewer chose this prefetched scene: it is no longer speculative and, while still
    queued, is sent again at the normal priority. Whichever message a worker takes first
    runs it; the other finds it claimed and does nothing (the claim is fenced).

    ``acting_user``, when given, must be whoever asked for the scene; the change is
    recorded in their name either way."""
    if acting_user is not None and acting_user.pk != job.requested_by_id:
        raise NotAllowed("No such scene.", code="not_found")
    with transaction.atomic():
        locked = locked_job(RenderJob, job.pk)
        if locked is None or not locked.speculative:
            return
        locked.speculative = False
        locked.save(update_fields=["speculative", "updated_at"])
        audit_append(action="render.prioritised", actor=user_actor(acting_user) if acting_user else
                     f"user:{locked.requested_by_id}", subject=locked.audit_subject, data={"status": locked.status})
        if locked.status == RenderJob.Status.QUEUED:
            enqueue_on_commit(RENDERS.enqueue, locked.id)


def _cast_clean(cast: Sequence[CastMember]) -> list[CastMember]:
    """The cast with canonical ids; the first problem raises ValidationFailed (field ``cast``)."""
    if not cast:
        raise ValidationFailed("A scene needs at least one role.", field="cast")
    members: list[CastMember] = []
    for member in cast:
        if not isinstance(member.role, str) or not _ROLE.fullmatch(member.role) or len(member.role) > _ROLE_MAX:
            raise ValidationFailed(f"Name each role with letters, digits, '-' or '_' (at most {_ROLE_MAX}).",
                                   field="cast")
        members.append(CastMember(
            role=member.role,
            license_id=_uuid(member.license_id, field="cast", message=f"role {member.role}: unknown license."),
            likeness_model_id=None if member.likeness_model_id is None else _uuid(
                member.likeness_model_id, field="cast", message=f"role {member.role}: unknown likeness model.")))
    if len({member.role for member in members}) != len(members):
        raise ValidationFailed("Each role appears once in a scene's cast.", field="cast")
    if len({member.license_id for member in members}) != len(members):
        raise ValidationFailed("Each role is played under a license of its own.", field="cast")
    return members


def _requester_may_request(members: list[CastMember], acting_user: AbstractBaseUser) -> None:
    """Every license is held by one studio, and the requester may ask under at least one of
    them: the viewer, through their own consent, or a producer of that studio."""
    licensees = licensee_ids_of_licenses(license_ids=[member.license_id for member in members])
    if len(licensees) != len(members) or len(set(licensees.values())) != 1 or not any(
            gate.requester_may_request(user_id=acting_user.pk, license_id=member.license_id) for member in members):
        raise NotAllowed(NOT_FOUND, code="not_found")


def _with_length(params: dict[str, Any] | None, seconds: float | None) -> dict[str, Any] | None:
    """The parameters with the scene's length in seconds turned into frames at their rate."""
    if seconds is None:
        return params
    raw = dict(params or {})
    if "num_frames" in raw:
        raise ValidationFailed("Give a scene's length in seconds or in frames, not both.", field="seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise ValidationFailed("A scene's length is a positive number of seconds.", field="seconds")
    fps = render_params_parse(raw).fps
    low, high = next(field.metadata["bounds"] for field in dataclasses.fields(RenderParams)
                     if field.name == "num_frames")
    frames = round(seconds * fps)
    if not low <= frames <= high:
        raise ValidationFailed(f"At {fps} frames a second a scene lasts {low / fps:g} to {high / fps:g} seconds.",
                               field="seconds")
    return {**raw, "num_frames": frames}


def _uuid(value: object, *, field: str, message: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValidationFailed(message, field=field) from None
