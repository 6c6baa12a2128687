"""Every write in stories: authoring a story, casting its roles, publishing and withdrawing it.

A story is checked by the Ink outline when it is created (bad input stores nothing) and
by the consent gate twice: when a talent role is cast (the license is in force and
allows interactive video), and when the story is published (every scene a talent plays,
its prompt screened against that talent's license). The gate audits its refusals; a
refused cast or publication commits those records and changes nothing else.

Publishing renders nothing, so it asks the gate without locking license rows: a license
revoked a moment later is refused by the gate at every render of every playthrough.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.actors import user_actor
from audit.services import audit_append
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from consent import gate
from consent.models import LikenessLicense, Organization
from stories import policies
from stories.ink import InkError, Problem, StoryOutline, problems_for_cast, story_outline
from stories.models import Story, StoryRole

MAX_COMPILED_BYTES = 2 * 1024 * 1024
MAX_SOURCE_BYTES = 1024 * 1024
ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _enforce_author(user: AbstractBaseUser, organization_id: object, *, missing: str) -> None:
    """Outside the studio the story (or studio) is not there (404); inside, only authors act."""
    if not policies.sees_stories_of(user, organization_id):
        raise NotAllowed(missing, code="not_found")
    refusal = policies.refuse_author(user=user, organization_id=organization_id)
    if refusal is not None:
        raise NotAllowed(refusal)


def _problems_error(problems: list[Problem], *, lead: str, field: str) -> ValidationFailed:
    return ValidationFailed(f"{lead} {'; '.join(str(p) for p in problems)}", field=field,
                            errors=[{"line": p.line, "message": p.message} for p in problems])


def _outline(compiled_json: str, source: str) -> StoryOutline:
    try:
        return story_outline(compiled_json, source=source or None)
    except InkError as error:
        raise ValidationFailed(f"This is not a compiled Ink story: {error}", field="compiled_json") from None


@transaction.atomic
def story_create(*, organization: Organization, title: str, compiled_json: str, ink_source: str = "",
                 acting_user: AbstractBaseUser) -> Story:
    """A draft story from its compiled Ink JSON (and its source, for line numbers), with one
    uncast role for each role its scenes name. A story with problems is refused, listing them all."""
    _enforce_author(acting_user, organization.pk, missing="No such studio.")
    if len(compiled_json.encode()) > MAX_COMPILED_BYTES:
        raise ValidationFailed(f"The compiled story is larger than {MAX_COMPILED_BYTES // 1024} KiB.",
                               field="compiled_json")
    if len(ink_source.encode()) > MAX_SOURCE_BYTES:
        raise ValidationFailed(f"The Ink source is larger than {MAX_SOURCE_BYTES // 1024} KiB.", field="ink_source")
    outline = _outline(compiled_json, ink_source)
    problems = list(outline.problems)
    problems += [Problem(None, f"The role name {name!r} is not a short lowercase slug (letters, digits, - and _).")
                 for name in outline.roles if not ROLE_NAME.match(name)]
    if problems:
        raise _problems_error(problems, lead="The story cannot be used as it is:", field="ink_source")
    title = (title or outline.title).strip()
    if not title:
        raise ValidationFailed("A story needs a title.", field="title")
    if len(title) > Story._meta.get_field("title").max_length:
        raise ValidationFailed("The title is too long.", field="title")
    story = Story.objects.create(organization=organization, title=title, ink_source=ink_source,
                                 compiled_json=compiled_json, created_by=acting_user)
    StoryRole.objects.bulk_create([StoryRole(story=story, name=name) for name in outline.roles])
    audit_append(action="story.created", actor=user_actor(acting_user), subject=story.audit_subject,
                 data={"organization": str(organization.pk), "roles": sorted(outline.roles),
                       "scenes": len(outline.scenes),
                       "compiled_sha256": hashlib.sha256(compiled_json.encode()).hexdigest()})
    return story


def _draft_locked(story_id: object, acting_user: AbstractBaseUser, *, doing: str) -> Story:
    story = Story.objects.select_for_update().get(pk=story_id)
    _enforce_author(acting_user, story.organization_id, missing="No such story.")
    if story.status != Story.Status.DRAFT:
        raise InvalidTransition(f"This story is {story.status}: only a draft can be {doing}.")
    return story


def _interactive_use(license_id: object, prompt: str) -> gate.UseRequest:
    return gate.UseRequest(license_id=str(license_id), medium=LikenessLicense.Medium.VIDEO, prompt=prompt,
                           interactive=True)


def story_role_cast(*, role: StoryRole, license: LikenessLicense | None = None, viewer: bool = False,
                    acting_user: AbstractBaseUser) -> StoryRole:
    """Cast a role of a draft story: a talent under a license the story's studio holds and
    the gate allows for interactive video, or the viewer who plays the story. A refusal by
    the gate raises `gate.ConsentRefused` (and is audited)."""
    actor = user_actor(acting_user)
    with transaction.atomic():
        story = _draft_locked(role.story_id, acting_user, doing="cast")
        if viewer == (license is not None):
            raise ValidationFailed("Cast a role either under a license (a talent) or as the viewer's own.",
                                   field="license")
        if license is not None and license.licensee_id != story.organization_id:
            raise ValidationFailed("The story's studio does not hold this license.", field="license")
        decision = None
        if license is not None:
            decision = gate.check(use=_interactive_use(license.pk, ""), stage=gate.Stage.REQUEST, actor=actor,
                                  subject=story.audit_subject)
        if decision is None or decision.allowed:
            role = StoryRole.objects.select_for_update().get(pk=role.pk)
            role.kind = StoryRole.Kind.VIEWER if viewer else StoryRole.Kind.TALENT
            role.license = license
            role.save(update_fields=["kind", "license"])
            audit_append(action="story.role_cast", actor=actor, subject=story.audit_subject,
                         data={"role": role.name, "kind": role.kind, "license": str(license.pk) if license else None})
            return role
    raise gate.ConsentRefused(decision)


def _scene_refusals(story: Story, outline: StoryOutline, roles: list[StoryRole], actor: str) -> list[dict[str, Any]]:
    """The gate's refusal of every scene a talent role plays in, each naming scene, line and role."""
    refusals = []
    for role in roles:
        if role.kind != StoryRole.Kind.TALENT:
            continue
        for knot, scene in outline.scenes.items():
            if role.name not in scene.cast:
                continue
            decision = gate.check(use=_interactive_use(role.license_id, scene.prompt), stage=gate.Stage.REQUEST,
                                  actor=actor, subject=story.audit_subject)
            if decision.allowed:
                continue
            where = f"scene '{knot}'" + (f" (line {scene.line})" if scene.line is not None else "")
            refusals.append({"scene": knot, "line": scene.line, "role": role.name, "license": str(role.license_id),
                             "reason": str(decision.reason),
                             "message": f"{where}, role {role.name}: {decision.message}"})
    return refusals


def story_publish(*, story: Story, acting_user: AbstractBaseUser) -> Story:
    """Publish a draft whose every role is cast and whose every scene the gate allows for
    the talent who plays it; otherwise refuse, listing every uncast scene or every refusal."""
    actor = user_actor(acting_user)
    with transaction.atomic():
        locked = _draft_locked(story.pk, acting_user, doing="published")
        outline = _outline(locked.compiled_json, locked.ink_source)
        roles = list(StoryRole.objects.filter(story=locked).order_by("name"))
        uncast = problems_for_cast(outline, {role.name for role in roles if role.is_cast}, locked.ink_source or None)
        if uncast:
            raise _problems_error(list(uncast), lead="Cast every role before publishing:", field="roles")
        refusals = _scene_refusals(locked, outline, roles, actor)
        if not refusals:
            locked.status, locked.published_at = Story.Status.PUBLISHED, timezone.now()
            locked.save(update_fields=["status", "published_at"])
            audit_append(action="story.published", actor=actor, subject=locked.audit_subject,
                         data={"roles": {role.name: str(role.license_id) if role.license_id else role.kind
                                         for role in roles}})
            story.status, story.published_at = locked.status, locked.published_at
            return locked
    raise ValidationFailed("The consent gate refuses this story: " + "; ".join(r["message"] for r in refusals),
                           code="consent_refused", field="roles", errors=refusals)


def story_withdraw(*, story: Story, acting_user: AbstractBaseUser) -> Story:
    """Take a published story off the list viewers star in: no playthrough starts after this;
    those already played keep their scenes and cuts."""
    with transaction.atomic():
        locked = Story.objects.select_for_update().get(pk=story.pk)
        _enforce_author(acting_user, locked.organization_id, missing="No such story.")
        if locked.status != Story.Status.PUBLISHED:
            raise InvalidTransition(f"This story is {locked.status}: only a published story can be withdrawn.")
        locked.status = Story.Status.WITHDRAWN
        locked.save(update_fields=["status"])
        audit_append(action="story.withdrawn", actor=user_actor(acting_user), subject=locked.audit_subject, data={})
        story.status = locked.status
        return locked
