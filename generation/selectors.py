"""Reads in generation, scoped to what the caller may see (anything else is a 404)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from consent.policies import is_licensee_legal
from consent.selectors import license_ids_for_user, licenses_for_user
from generation.models import LeasedJob, RenderCast, RenderJob, RenderOutput, TrainingJob

User = AbstractBaseUser | AnonymousUser


def _render_ids_under(license_ids: QuerySet) -> QuerySet:
    """The ids of renders under one of these licenses, or of scenes with a role played under
    one: a UNION of two indexed lookups, where an OR across the join to the cast would make
    PostgreSQL scan every render."""
    if isinstance(license_ids, QuerySet):
        license_ids = license_ids.order_by()
    return (RenderJob.objects.filter(license_id__in=license_ids).order_by().values_list("id", flat=True)
            .union(RenderCast.objects.filter(license_id__in=license_ids).order_by().values_list("job_id", flat=True)))


def render_jobs_for_user(*, user: User) -> QuerySet[RenderJob]:
    """Jobs under licenses the caller may see (a scene's under any of its roles' licenses):
    the talent, and the licensee's members."""
    if not user.is_authenticated:
        return RenderJob.objects.none()
    return (RenderJob.objects.filter(pk__in=_render_ids_under(license_ids_for_user(user=user)))
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


def published_output_get_for_user(*, user: User, job_id: object) -> RenderOutput:
    """The published output of a render the caller may see (the portal's and the API's
    download); 404 outside their scope or before it is published."""
    job = job_get_for_user(render_jobs_for_user(user=user), job_id)
    output = RenderOutput.objects.filter(job=job).first()
    if output is None:
        raise Http404("This render has no published output.")
    return output


def published_outputs_for_licenses(*, license_ids: QuerySet, published_from: object, published_to: object) -> QuerySet:
    """Published outputs under these licenses, in a period (both dates included)."""
    from generation.models import RenderOutput

    return (RenderOutput.objects.filter(job_id__in=_render_ids_under(license_ids), created_at__date__gte=published_from,
                                        created_at__date__lte=published_to)
            .select_related("job").order_by("created_at"))


def likeness_outputs_for_talent(*, user: User) -> QuerySet[RenderOutput]:
    """Published outputs that used the caller's own likeness (the caller is the talent), newest first."""
    if not user.is_authenticated:
        return RenderOutput.objects.none()
    own_licenses = licenses_for_user(user=user).filter(talent__user=user).values("id")
    return (RenderOutput.objects.filter(job_id__in=_render_ids_under(own_licenses))
            .select_related("job").order_by("-created_at"))


def likeness_output_get_for_talent(*, user: User, output_id: object) -> RenderOutput:
    try:
        return likeness_outputs_for_talent(user=user).get(pk=output_id)
    except (RenderOutput.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such output.") from None


def job_records_for_licenses(*, license_ids: QuerySet) -> dict[str, list[dict[str, Any]]]:
    """The render and training jobs under these licenses, as plain records (a talent's data export)."""
    renders = (RenderJob.objects.filter(pk__in=_render_ids_under(license_ids)).select_related("output")
               .order_by("created_at"))
    return {
        "renders": [{"id": str(job.id), "license": str(job.license_id), "prompt": job.prompt, "params": job.params,
                     "status": job.status, "requested_at": job.created_at.isoformat(),
                     "output": str(job.output.id) if hasattr(job, "output") else None,
                     "output_sha256": job.output.sha256 if hasattr(job, "output") else None,
                     "output_compliance": job.output.compliance if hasattr(job, "output") else None}
                    for job in renders],
        "trainings": [{"id": str(job.id), "license": str(job.license_id), "status": job.status,
                       "likeness_model": str(job.likeness_model_id) if job.likeness_model_id else None,
                       "requested_at": job.created_at.isoformat()}
                      for job in TrainingJob.objects.filter(license_id__in=license_ids).order_by("created_at")],
    }


def job_cancellable_by(*, job: LeasedJob, user: User) -> bool:
    """Whoever asked for a render or a training (a producer, or the viewer of a scene), or the
    licensee's legal staff, may cancel it."""
    return user.is_authenticated and (
        user.pk == job.requested_by_id or is_licensee_legal(user=user, license_id=job.license_id))


def job_seconds_left(job: LeasedJob, *, now: datetime | None = None) -> int | None:
    """Seconds until a running job ends, at the step rate seen so far; None until a step is done.

    The rate runs from the first claim to the last progress report, so it includes the
    model load and any retried attempt: an estimate that errs long.
    """
    if job.status != LeasedJob.Status.RUNNING or not job.started_at or not job.progress_step:
        return None
    per_step = (job.updated_at - job.started_at).total_seconds() / job.progress_step
    since_report = ((now or timezone.now()) - job.updated_at).total_seconds()
    return max(0, round(per_step * max(0, job.progress_total - job.progress_step) - since_report))


def output_by_watermark(*, watermark_id: int) -> RenderOutput | None:
    """The published output whose frames carry this watermark id, if any."""
    return RenderOutput.objects.select_related("job").filter(watermark_id=watermark_id).first()


def watermark_id_taken(watermark_id: int) -> bool:
    return RenderOutput.objects.filter(watermark_id=watermark_id).exists()
