"""The signed-in talent's own data, gathered across the apps: export it, or erase it."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from bespoke.api import validated
from bespoke.errors import NotAllowed, ValidationFailed
from consent import services
from consent.api import step_up
from consent.export import talent_export
from consent.models import Talent
from generation.models import RenderJob, TrainingJob


class EraseInput(serializers.Serializer):
    confirm = serializers.BooleanField(help_text="true: I understand that erasure cannot be undone.")


def _jobs_about(talent: Talent) -> dict[str, list[dict[str, Any]]]:
    license_ids = talent.licenses.values("id")
    renders = RenderJob.objects.filter(license_id__in=license_ids).select_related("output").order_by("created_at")
    return {
        "renders": [{"id": str(job.id), "license": str(job.license_id), "prompt": job.prompt, "params": job.params,
                     "status": job.status, "requested_at": job.created_at.isoformat(),
                     "output": str(job.output.id) if hasattr(job, "output") else None,
                     "output_sha256": job.output.sha256 if hasattr(job, "output") else None}
                    for job in renders],
        "trainings": [{"id": str(job.id), "license": str(job.license_id), "status": job.status,
                       "likeness_model": str(job.likeness_model_id) if job.likeness_model_id else None,
                       "requested_at": job.created_at.isoformat()}
                      for job in TrainingJob.objects.filter(license_id__in=license_ids).order_by("created_at")],
    }


def _own_talent(request: Request, verb: str) -> Talent:
    talent = Talent.objects.filter(user=request.user).first()
    if talent is None:
        raise NotAllowed(f"Only an enrolled talent has likeness data to {verb}.")
    return talent


class MeViewSet(viewsets.ViewSet):
    @extend_schema(request=None, responses={(200, "application/zip"): bytes})
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> HttpResponse:
        """Every record about the talent and their files (photos, likeness models), as a zip."""
        talent = _own_talent(request, "export")
        step_up(request)
        archive = talent_export(talent=talent, acting_user=request.user, related=_jobs_about(talent))
        response = HttpResponse(archive, content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="bespoke-export.zip"'
        return response

    @extend_schema(request=EraseInput, responses={200: {"type": "object"}})
    @action(detail=False, methods=["post"])
    def erase(self, request: Request) -> Response:
        """Revoke every license, destroy likeness models and photos, and destroy the talent's key."""
        talent = _own_talent(request, "erase")
        if not validated(EraseInput, request)["confirm"]:
            raise ValidationFailed("Confirm the erasure: it revokes every license and cannot be undone.", field="confirm")
        step_up(request)
        return Response(services.talent_erase(talent=talent, acting_user=request.user))
