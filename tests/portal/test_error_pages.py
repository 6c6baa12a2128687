"""The product's own error pages: 404, 403, 429 and 500 in the portal's frame (500 standing alone,
needing neither the database nor a request), the same in development (DEBUG) as in production,
with the traceback of a real error still logged."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from bespoke.error_pages import ProductErrorPagesMiddleware, permission_denied
from core.api.errors import server_error


def _request(path: str = "/somewhere/"):  # type: ignore[no-untyped-def]
    request = RequestFactory().get(path)
    request.user = AnonymousUser()
    return request


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_address_is_the_portals_not_found_page_in_every_mode(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404 and "<h1>Not found</h1>" in page and "Verify a file" in page
    assert "URLconf" not in page


def test_in_development_a_real_error_is_the_portals_page_and_its_traceback_is_logged(settings, caplog):
    settings.DEBUG = True
    middleware = ProductErrorPagesMiddleware(lambda request: HttpResponse("ok"))
    try:
        raise RuntimeError("the worker's disk is full")
    except RuntimeError as error:
        with caplog.at_level(logging.ERROR, logger="django.request"):
            response = middleware.process_exception(_request(), error)
    assert response is not None and response.status_code == 500
    assert "<h1>Something went wrong</h1>" in response.content.decode()
    assert "disk is full" not in response.content.decode()
    logged = [record for record in caplog.records if record.name == "django.request"]
    assert logged and logged[0].exc_info and "disk is full" in str(logged[0].exc_info[1])


def test_in_production_the_middleware_leaves_errors_to_djangos_handlers(settings):
    settings.DEBUG = False
    middleware = ProductErrorPagesMiddleware(lambda request: HttpResponse("ok"))
    assert middleware.process_exception(_request(), RuntimeError("boom")) is None


def test_the_500_page_needs_no_database():
    # Without the django_db mark any query here would raise.
    response = server_error(_request())
    assert response.status_code == 500 and "<h1>Something went wrong</h1>" in response.content.decode()


@pytest.mark.django_db
def test_a_refusal_is_the_portals_not_allowed_page_and_the_apis_error_body_on_the_api():
    response = permission_denied(_request(), PermissionDenied())
    page = response.content.decode()
    assert response.status_code == 403 and "<h1>Not allowed</h1>" in page and "Verify a file" in page
    api = permission_denied(_request("/api/v1/licenses/"), PermissionDenied())
    assert api.status_code == 403 and api["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_sign_ins_over_the_address_limit_get_the_portals_429_page(client, settings, empty_cache):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "1/m/ip"}
    client.post("/accounts/login/", {"login": "nobody", "password": "wrong"})
    response = client.post("/accounts/login/", {"login": "nobody", "password": "wrong"})
    page = response.content.decode()
    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert "<h1>Too many requests</h1>" in page and "try again in a minute" in page and "Verify a file" in page
