"""The product's own error pages (404, 403, 429, 500), in development as in production.

With DEBUG on, Django answers an unknown address or a view's Http404 with its technical page
(which lists every URL pattern) and an uncaught exception with its traceback page.
``ProductErrorPagesMiddleware`` gives people the same pages in development as in production;
the traceback of a real error still goes to the console through the ``django.request`` logger.
Handlers answer the API's JSON body on the API (core.api.errors).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core import signals
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views import defaults

from core.api.errors import error_response, not_found, server_error, wants_json

request_logger = logging.getLogger("django.request")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """403: the API's body on the API, the product's page elsewhere."""
    if wants_json(request):
        return error_response("not_allowed", "You may not do this.", http_status=403)
    return defaults.permission_denied(request, exception)


class ProductErrorPagesMiddleware:
    """In DEBUG, answer what Django would show its technical pages for with the product's pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # DEBUG is read per request, not at start-up, so that a test can switch it on.
        if settings.DEBUG and not _resolves(request):
            return not_found(request, Http404(request.path))
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not settings.DEBUG or isinstance(exception, PermissionDenied):
            return None  # production uses the handlers already; a 403 is the handler's page in every mode
        if isinstance(exception, Http404):
            return not_found(request, exception)
        request_logger.error("Internal Server Error: %s", request.path, exc_info=exception,
                             extra={"status_code": 500, "request": request})
        # As Django does for an uncaught exception, so that the test client still raises it.
        signals.got_request_exception.send(sender=None, request=request)
        return server_error(request)


def _resolves(request: HttpRequest) -> bool:
    try:
        resolve(request.path_info, urlconf=getattr(request, "urlconf", None))
    except Resolver404:
        return False
    return True
