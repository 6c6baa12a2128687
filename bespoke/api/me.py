"""The signed-in talent's own data, gathered across the apps: export it, or erase it."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.stepup import OTP_HEADER, step_up_api
from core.api import validated
from core.errors import NotAllowed, ValidationFailed
from bespoke.talent_data import own_talent, talent_data_download
from consent import services
from consent.models import Talent


class EraseInput(serializers.Serializer):
    confirm = serializers.BooleanField(help_text="true: I understand that erasure cannot be undone.")


def _own_talent(request: Request, verb: str) -> Talent:
    talent = own_talent(user=request.user)
    if talent is None:
        raise NotAllowed(f"Only an enrolled talent has likeness data to {verb}.")
    return talent


class MeViewSet(viewsets.ViewSet):
    def http_method_not_allowed(self, request: Request, *args: object, **kwargs: object) -> HttpResponse:
        if request.method == "GET" and "export" in self.action_map.values():
            # A step-up code is refused on a GET (see core.stepup), so a GET export could never pass.
            raise exceptions.MethodNotAllowed("GET", detail=f"Ask for the export with a POST, with an {OTP_HEADER} "
                                                            "header or after a recent confirmation in the portal.")
        return super().http_method_not_allowed(request, *args, **kwargs)

    @extend_schema(request=None, responses={(200, "application/zip"): bytes})
    @action(detail=False, methods=["post"])
    def export(self, request: Request) -> HttpResponse:
        """Every record about the talent and their files (photos, likeness models), as a zip.
        A POST: it needs a step-up confirmation, which a GET cannot carry."""
        talent = _own_talent(request, "export")
        step_up_api(request)
        return talent_data_download(talent=talent, acting_user=request.user)

    @extend_schema(request=EraseInput, responses={200: {"type": "object"}})
    @action(detail=False, methods=["post"])
    def erase(self, request: Request) -> Response:
        """Revoke every license, destroy likeness models and photos, and destroy the talent's key."""
        talent = _own_talent(request, "erase")
        if not validated(EraseInput, request)["confirm"]:
            raise ValidationFailed("Confirm the erasure: it revokes every license and cannot be undone.", field="confirm")
        step_up_api(request)
        return Response(services.talent_erase(talent=talent, acting_user=request.user))
