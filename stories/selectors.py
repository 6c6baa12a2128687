"""Reads in stories, scoped to what the caller may see (anything else is a 404)."""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from stories import policies
from stories.ink import InkError, StoryOutline, story_outline
from stories.models import Playthrough, PlaythroughScene, Story, StoryRole

User = AbstractBaseUser | AnonymousUser


def stories_for_user(*, user: User) -> QuerySet[Story]:
    """The stories of the studios the user is a member of."""
    if not user.is_authenticated:
        return Story.objects.none()
    return (Story.objects.filter(organization_id__in=policies.story_organization_ids(user))
            .select_related("organization").order_by("-created_at"))


def story_get_for_user(*, user: User, story_id: object) -> Story:
    try:
        return stories_for_user(user=user).get(pk=story_id)
    except (Story.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such story.") from None


def story_roles(*, story: Story) -> QuerySet[StoryRole]:
    """The roles of a story the caller already holds (so may see)."""
    return StoryRole.objects.filter(story=story).select_related("license").order_by("name")


def story_role_get_for_user(*, user: User, role_id: object) -> StoryRole:
    try:
        return (StoryRole.objects.select_related("story", "license")
                .get(pk=role_id, story__in=stories_for_user(user=user)))
    except (StoryRole.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such role.") from None


def stories_casting_license(*, license_id: object) -> list[tuple[Story, list[str]]]:
    """The stories that cast a role under a license the caller already holds (so may see),
    each with the roles it casts under it: what the talent learns before revoking."""
    roles = (StoryRole.objects.filter(license_id=license_id).select_related("story")
             .order_by("story__created_at", "name"))
    cast: dict[object, tuple[Story, list[str]]] = {}
    for role in roles:
        cast.setdefault(role.story_id, (role.story, []))[1].append(role.name)
    return list(cast.values())


def stories_open_to_viewers() -> QuerySet[Story]:
    """Published stories with a role the viewer plays: what anyone signed up as a viewer may star in."""
    return (Story.objects.filter(status=Story.Status.PUBLISHED, roles__kind=StoryRole.Kind.VIEWER).distinct()
            .select_related("organization").order_by("-published_at"))


def story_open_to_viewers_get(*, story_id: object) -> Story:
    try:
        return stories_open_to_viewers().get(pk=story_id)
    except (Story.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such story.") from None


def playthroughs_of_viewer(*, user: User, story: Story | None = None) -> QuerySet[Playthrough]:
    if not user.is_authenticated:
        return Playthrough.objects.none()
    playthroughs = Playthrough.objects.filter(viewer_id=user.pk).select_related("story")
    return playthroughs.filter(story=story) if story is not None else playthroughs


def playthrough_get_for_viewer(*, user: User, playthrough_id: object) -> Playthrough:
    """A playthrough is the viewer's alone: anyone else, the studio included, gets a 404."""
    try:
        return playthroughs_of_viewer(user=user).get(pk=playthrough_id)
    except (Playthrough.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such playthrough.") from None


def playthrough_path(*, playthrough: Playthrough) -> list[PlaythroughScene]:
    return list(playthrough.scenes.filter(status=PlaythroughScene.Status.CHOSEN).order_by("position"))


def playthrough_branches(*, scene: PlaythroughScene) -> list[PlaythroughScene]:
    """The scenes behind the choices of ``scene`` requested so far, by choice."""
    return list(PlaythroughScene.objects.filter(parent=scene).order_by("choice_index"))


OUTLINE_CACHE_SECONDS = 24 * 3600


def story_outline_of(*, story: Story) -> StoryOutline | None:
    """The outline of a stored story (None if it can no longer be read), computed once per story
    text and kept in the shared cache: playing every path costs up to seconds, a page view should not."""
    key = "story-outline:" + hashlib.sha256(f"{story.compiled_json}\0{story.ink_source}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    try:
        outline: StoryOutline | None = story_outline(story.compiled_json, source=story.ink_source or None)
    except InkError:  # a stored story was checked when created; never crash a read on it
        outline = None
    cache.set(key, outline or False, OUTLINE_CACHE_SECONDS)
    return outline
