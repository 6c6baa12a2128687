"""Reads in generation, scoped to what the caller may see."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from generation.models import RenderJob


def render_jobs_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[RenderJob]:
    """A producer sees the jobs they requested."""
    if not user.is_authenticated:
        return RenderJob.objects.none()
    return RenderJob.objects.filter(requested_by=user).select_related("output").order_by("-created_at")
