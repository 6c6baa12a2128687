"""Reads in generation, scoped to what the caller may see (anything else is a 404)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from consent.selectors import license_ids_for_user
from generation.models import LeasedJob, RenderJob, TrainingJob

User = AbstractBaseUser | AnonymousUser


def render_jobs_for_user(*, user: User) -> QuerySet[RenderJob]:
    """Jobs under licenses the caller may see: the talent, and the licensee's members."""
    if not user.is_authenticated:
        return RenderJob.objects.none()
    return (RenderJob.objects.filter(license_id__in=license_ids_for_user(user=user))
            .select_related("output").order_by("-created_at"))


def training_jobs_for_user(*, user: User) -> QuerySet[TrainingJob]:
    if not user.is_authenticated:
        return TrainingJob.objects.none()
    return TrainingJob.objects.filter(license_id__in=license_ids_for_user(user=user)).order_by("-created_at")


def job_get_for_user(queryset: QuerySet, job_id: object) -> LeasedJob:
    try:
        return queryset.get(pk=job_id)
    except (queryset.model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such job.") from None


def published_outputs_for_licenses(*, license_ids: QuerySet, published_from: object, published_to: object) -> QuerySet:
    """Published outputs under these licenses, in a period (both dates included)."""
    from generation.models import RenderOutput

    return (RenderOutput.objects.filter(job__license_id__in=license_ids, created_at__date__gte=published_from,
                                        created_at__date__lte=published_to)
            .select_related("job").order_by("created_at"))
