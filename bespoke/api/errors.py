"""One error body for every API failure: {"code", "message", "field", "errors"}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from bespoke.errors import ApplicationError

STATUS_FOR_CODE = {
    "invalid": status.HTTP_400_BAD_REQUEST,
    "not_allowed": status.HTTP_403_FORBIDDEN,
    "not_found": status.HTTP_404_NOT_FOUND,
    "invalid_transition": status.HTTP_409_CONFLICT,
    "consent_refused": status.HTTP_409_CONFLICT,
    "idempotency_conflict": status.HTTP_422_UNPROCESSABLE_ENTITY,
    "reauthentication_required": status.HTTP_401_UNAUTHORIZED,
    "mfa_required": status.HTTP_403_FORBIDDEN,
}


def error_body(code: str, message: str, field: str | None = None, errors: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field, "errors": errors}


def _first_message(detail: Any) -> tuple[str | None, str]:
    if isinstance(detail, dict):
        for field, value in detail.items():
            _, message = _first_message(value)
            return (None if field == "non_field_errors" else str(field)), message
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return None, str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    from consent.gate import ConsentRefused

    if isinstance(exc, ConsentRefused):
        decision = exc.decision
        return Response(error_body("consent_refused", decision.message, None, {"reason": str(decision.reason)}),
                        status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.field), status=STATUS_FOR_CODE.get(exc.code, 400))
    if isinstance(exc, (Http404, PermissionDenied)):
        exc = exceptions.NotFound() if isinstance(exc, Http404) else exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_message(exc.detail)
        response.data = error_body("invalid", message, field, exc.detail)
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        response.data = error_body(str(code), str(exc.detail))
    return response
