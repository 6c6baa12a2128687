"""One error body for every API failure: {"code", "message", "field", "errors"}.

DRF views get it from `exception_handler`; code that answers before DRF runs (middleware,
the public rate limit) builds it with `error_response`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError

API_PREFIX = "/api/"
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


def error_response(code: str, message: str, *, http_status: int, field: str | None = None, errors: Any = None,
                   headers: dict[str, str] | None = None) -> JsonResponse:
    """The error body as a plain Django response, for answers given outside DRF."""
    return JsonResponse(error_body(code, message, field, errors), status=http_status, headers=headers)


def application_error_response(error: ApplicationError) -> JsonResponse:
    """A service's refusal answered outside DRF, with the status the API gives it."""
    return error_response(error.code, error.message, field=error.field, errors=error.errors,
                          http_status=_status_for(error))


def _status_for(error: ApplicationError) -> int:
    return STATUS_FOR_CODE.get(error.code, status.HTTP_400_BAD_REQUEST)


def wants_json(request: HttpRequest) -> bool:
    """Whether an error should be answered with the JSON body rather than a page: always on the API;
    elsewhere only for a client that asks for JSON and not for HTML (a browser always asks for HTML)."""
    if request.path_info.startswith(API_PREFIX):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 (no such route, e.g. an id that is not a UUID), in the API's body on the API."""
    if wants_json(request):
        return error_response("not_found", "No such route or object.", http_status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return error_response("server_error", "Something went wrong on our side; it has been logged.",
                              http_status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return defaults.server_error(request)


def _first_message(detail: Any) -> tuple[str | None, str]:
    if isinstance(detail, dict):
        for field, value in detail.items():
            _, message = _first_message(value)
            return (None if field == "non_field_errors" else str(field)), message
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return None, str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.field, exc.errors), status=_status_for(exc))
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
