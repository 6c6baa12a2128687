"""One error body everywhere: bad input to a write names the field; the MFA middleware and the
public rate limit answer API clients with the API's body and people with pages."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from consent.models import LikenessLicense
from tests.conftest import make_license

pytestmark = pytest.mark.django_db
ERROR_KEYS = {"code", "message", "field", "errors"}


def _amend(api, license, changes):  # type: ignore[no-untyped-def]
    return api("dana").post(reverse("license-amend", kwargs={"pk": license.id}), {"changes": changes}, format="json")


@pytest.mark.parametrize("changes, field", [
    ({"representative": 4, "capacity": "deceased"}, "capacity"),
    ({"representative": 4}, "representative"),
    ({"talent_birth_date": "2015-06-01"}, "talent_birth_date"),
    ({"talent": "00000000-0000-0000-0000-000000000000"}, "talent"),
    ({"colour": "blue"}, "colour"),
    ({"compensation_rate": "NaN"}, "compensation_rate"),
    ({"compensation_rate": "Infinity"}, "compensation_rate"),
    ({"project": "x" * 300}, "project"),
    ({"max_renders": "many"}, "max_renders"),
    ({"max_renders": 0}, "max_renders"),
    ({"permitted_media": "video"}, "permitted_media"),
    ({"starts_on": "soon"}, "starts_on"),
    ({"compensation_currency": "euros"}, "compensation_currency"),
    ({"representation": "lawyer"}, "representation"),
    ({}, "changes"),
    ("more renders", "changes"),
])
def test_a_bad_amendment_is_a_400_naming_the_term_and_drafts_nothing(mfa_personas, api, changes, field):
    license = make_license(mfa_personas)
    versions = LikenessLicense.objects.count()
    response = _amend(api, license, changes)
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == ERROR_KEYS and body["code"] == "invalid" and body["field"] == field, body
    assert LikenessLicense.objects.count() == versions


def test_an_amendment_takes_its_terms_as_a_draft_does(mfa_personas, api):
    license = make_license(mfa_personas)
    ends_on = license.ends_on + timedelta(days=30)
    response = _amend(api, license, {"ends_on": ends_on.isoformat(), "compensation_rate": "300.50", "max_renders": 9})
    assert response.status_code == 201, response.content
    amendment = response.json()
    assert amendment["version"] == 2 and amendment["previous"] == str(license.id)
    assert (amendment["ends_on"], amendment["compensation_rate"], amendment["max_renders"]) == \
        (ends_on.isoformat(), 300.5, 9)


def test_a_cross_term_refusal_of_an_amendment_names_the_term(mfa_personas, api):
    license = make_license(mfa_personas)
    response = _amend(api, license, {"ends_on": license.starts_on.isoformat()})
    assert response.status_code == 400 and response.json()["field"] == "ends_on"


# --- Django's own 404 and 500 ----------------------------------------------------------

def test_an_api_route_that_does_not_exist_answers_the_api_error_body(mfa_personas, api):
    response = api("alice").post("/api/v1/licenses/not-a-uuid/revoke/", {"reason": "x"}, format="json")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert set(response.json()) == ERROR_KEYS and response.json()["code"] == "not_found"


def test_a_page_that_does_not_exist_is_a_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_a_server_error_answers_the_api_error_body_on_the_api_and_a_page_elsewhere():
    from core.api.errors import server_error

    api = server_error(RequestFactory().get("/api/v1/talents/"))
    assert api.status_code == 500 and set(json.loads(api.content)) == ERROR_KEYS
    page = server_error(RequestFactory().get("/renders/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


# --- the MFA middleware ----------------------------------------------------------------

@pytest.mark.parametrize("authentication", ["session", "token"])
def test_an_api_client_without_required_mfa_gets_the_api_error_body(personas, empty_cache, authentication):
    client = APIClient()
    if authentication == "session":
        client.force_login(personas.dana)
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=personas.dana).key}")
    response = client.get(reverse("license-list"))
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == ERROR_KEYS and body["code"] == "mfa_required" and "authenticator" in body["message"]


def test_a_person_without_required_mfa_is_sent_to_enrol_a_page_not_json(client, personas, empty_cache):
    client.force_login(personas.dana)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")


# --- the public rate limit -------------------------------------------------------------

def _limited_view(per_minute: int):  # type: ignore[no-untyped-def]
    from core.ratelimit import limited

    @limited("test-scope", lambda: per_minute)
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    return view


def test_an_api_client_over_the_limit_gets_429_with_the_api_error_body(empty_cache):
    view = _limited_view(per_minute=1)
    assert view(RequestFactory().get("/api/v1/talents/")).status_code == 200
    response = view(RequestFactory().get("/api/v1/talents/", HTTP_ACCEPT="text/html"))
    assert response.status_code == 429 and response["Content-Type"] == "application/json"
    assert 1 <= int(response["Retry-After"]) <= 60
    body = json.loads(response.content)
    assert set(body) == ERROR_KEYS and body["code"] == "rate_limited" and body["field"] is None


def test_a_json_client_of_the_public_status_endpoint_gets_the_api_error_body(client, settings, empty_cache):
    settings.BESPOKE_STATUS_REQUESTS_PER_MINUTE = 1
    client.get("/verify/watermark/1", HTTP_ACCEPT="application/json")
    response = client.get("/verify/watermark/1", HTTP_ACCEPT="application/json")
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 60
    assert set(response.json()) == ERROR_KEYS and response.json()["code"] == "rate_limited"


def _not_media():  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("notes.txt", b"not a video", content_type="text/plain")


@pytest.mark.parametrize("accept", [None, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"])
def test_the_verify_page_answers_errors_and_the_rate_limit_with_html(client, settings, empty_cache, accept):
    settings.BESPOKE_VERIFY_UPLOADS_PER_MINUTE = 1
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    refused = client.post("/verify/", {"file": _not_media()}, **headers)
    assert refused.status_code == 400 and refused["Content-Type"].startswith("text/html")
    limited = client.post("/verify/", {"file": _not_media()}, **headers)
    assert limited.status_code == 429 and limited["Content-Type"].startswith("text/html")
    assert 1 <= int(limited["Retry-After"]) <= 60
    page = limited.content.decode()
    # The verify page itself, its form ready for the next try, says when that may be.
    assert "<h1>Verify a file</h1>" in page and 'name="file"' in page and '"code"' not in page
    assert f"try again in {int(limited['Retry-After'])} second" in page
