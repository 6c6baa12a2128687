"""Who may see and author stories: consulted by selectors and views, enforced by services.

A studio's members (legal staff, producers, auditors) see its stories; its producers and
legal staff author, cast and publish them. Anyone else is told the story is not there.
Like ``consent.policies``, a ``refuse_*`` rule answers None when allowed, else the refusal.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from consent.models import Membership
from consent.policies import studio_organization_ids

User = AbstractBaseUser | AnonymousUser

AUTHOR_ROLES = (Membership.Role.PRODUCER, Membership.Role.LEGAL)


def story_organization_ids(user: User) -> QuerySet:
    """The studios whose stories the user sees (a subquery of ids)."""
    return studio_organization_ids(user)


def sees_stories_of(user: User, organization_id: object) -> bool:
    return story_organization_ids(user).filter(organization_id=organization_id).exists()


def refuse_author(*, user: User, organization_id: object) -> str | None:
    """Authoring, casting and publishing are the studio's producers' and legal staff's."""
    if studio_organization_ids(user, AUTHOR_ROLES).filter(organization_id=organization_id).exists():
        return None
    return "Only the studio's producers and legal staff author its stories."
