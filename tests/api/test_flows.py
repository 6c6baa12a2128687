"""The API's contracts: idempotent creates, step-up before high-risk actions, one error
body, revocation that stops queued work at once, and the certificate of completion."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from consent.models import LikenessLicense, SignatureEvent
from generation.models import RenderJob
from tests.conftest import SMALL_RENDER, make_license

pytestmark = pytest.mark.django_db
ERROR_KEYS = {"code", "message", "field", "errors"}


def _render_body(license) -> dict:  # type: ignore[no-untyped-def]
    return {"license": str(license.id), "prompt": "sks person reading", "params": SMALL_RENDER}


def test_repeating_a_create_with_the_same_idempotency_key_returns_the_first_result(mfa_personas, api):
    license = make_license(mfa_personas)
    bob = api("bob")
    first = bob.post(reverse("render-list"), _render_body(license), format="json", headers={"Idempotency-Key": "k-1"})
    again = bob.post(reverse("render-list"), _render_body(license), format="json", headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert RenderJob.objects.count() == 1
    other = bob.post(reverse("render-list"), {**_render_body(license), "prompt": "sks person running"}, format="json",
                     headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_conflict"
    fresh = bob.post(reverse("render-list"), _render_body(license), format="json", headers={"Idempotency-Key": "k-2"})
    assert fresh.status_code == 201 and RenderJob.objects.count() == 2


def test_a_refused_create_releases_its_key_and_keeps_the_refusal_audited(mfa_personas, api):
    license = make_license(mfa_personas)
    body = {**_render_body(license), "prompt": "sks person at an election rally"}
    refused = api("bob").post(reverse("render-list"), body, format="json", headers={"Idempotency-Key": "k-9"})
    assert refused.status_code == 409
    assert refused.json() == {"code": "consent_refused", "message": refused.json()["message"], "field": None,
                              "errors": {"reason": "excluded_content"}}
    assert AuditEvent.objects.filter(action="consent.gate_refused").count() == 1
    assert not RenderJob.objects.exists()


@pytest.mark.parametrize("action, persona", [("sign", "alice"), ("countersign", "dana"), ("revoke", "alice"),
                                             ("erase", "alice")])
def test_high_risk_actions_without_a_fresh_mfa_confirmation_are_refused_and_change_nothing(mfa_personas, action,
                                                                                          persona):
    license = make_license(mfa_personas, signed=action != "sign", countersigned=action not in ("sign", "countersign"))
    client = APIClient()
    client.force_login(getattr(mfa_personas, persona))  # signed in, but no recent confirmation
    before = (AuditEvent.objects.count(), SignatureEvent.objects.count(), license.status)
    body = {"text_sha256": license.text_sha256, "disclosure_accepted": True} if "sign" in action else {"reason": "x"}
    url = reverse("me-erase") if action == "erase" else reverse(f"license-{action}", kwargs={"pk": license.id})
    response = client.post(url, {"confirm": True} if action == "erase" else body, format="json")
    assert response.status_code == 401 and response.json()["code"] == "reauthentication_required"
    license.refresh_from_db()
    assert (AuditEvent.objects.count(), SignatureEvent.objects.count(), license.status) == before


def test_a_talent_without_mfa_must_enrol_before_signing(personas):
    license = make_license(personas, signed=False, countersigned=False)
    client = APIClient()
    client.force_login(personas.alice)
    response = client.post(reverse("license-sign", kwargs={"pk": license.id}),
                           {"text_sha256": license.text_sha256, "disclosure_accepted": True}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "mfa_required"


def test_legal_staff_without_mfa_cannot_act_until_they_enrol(personas):
    client = APIClient()
    client.force_login(personas.dana)
    response = client.get(reverse("license-list"))
    assert response.status_code == 403 and response.json()["code"] == "mfa_required"


def test_signing_through_the_api_records_the_evidence(mfa_personas, api):
    license = make_license(mfa_personas, signed=False, countersigned=False)
    response = api("alice").post(reverse("license-sign", kwargs={"pk": license.id}),
                                 {"text_sha256": license.text_sha256, "disclosure_accepted": True}, format="json",
                                 headers={"User-Agent": "Bespoke test agent"}, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 200 and response.json()["status"] == "signed"
    event = SignatureEvent.objects.get(license=license)
    assert (event.authentication_method, event.ip_address, event.user_agent) == ("mfa", "198.51.100.7", "Bespoke test agent")
    certificate = api("alice").get(reverse("license-certificate", kwargs={"pk": license.id}), {"as": "text"})
    text = certificate.content.decode()
    assert certificate.status_code == 200 and "CERTIFICATE OF COMPLETION" in text
    assert "198.51.100.7" in text and "authentication: mfa" in text and license.text_sha256 in text


def test_revocation_cancels_queued_renders_at_once_and_says_what_it_does_not_undo(
        mfa_personas, api, django_capture_on_commit_callbacks):
    license = make_license(mfa_personas)
    job = api("bob").post(reverse("render-list"), _render_body(license), format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        response = api("alice").post(reverse("license-revoke", kwargs={"pk": license.id}), {"reason": "Withdrawn."},
                                     format="json")
    assert response.status_code == 200
    assert response.json()["published_outputs"] == [] and "not recalled" in response.json()["not_undone"]
    assert RenderJob.objects.get(pk=job["id"]).outcome_code == "license_revoked"
    assert LikenessLicense.objects.get(pk=license.id).status == "revoked"


@pytest.mark.parametrize("body, field", [
    ({"prompt": "x"}, "license"),
    ({"license": "not-a-uuid", "prompt": "x"}, "license"),
    ({"license": "00000000-0000-0000-0000-000000000000", "prompt": "x", "params": {"width": 65}}, "width"),
])
def test_bad_input_gets_one_clear_error_body(mfa_personas, api, body, field):
    response = api("bob").post(reverse("render-list"), body, format="json")
    assert response.status_code in (400, 404)
    payload = response.json()
    assert set(payload) == ERROR_KEYS and payload["message"]
    if response.status_code == 400:
        assert payload["field"] == field


def test_the_openapi_schema_is_served(mfa_personas, api):
    response = api(None).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/licenses/{id}/sign/" in document["paths"]
    assert document["components"]["schemas"]["Error"]["required"] == ["code", "message", "field", "errors"]


@pytest.mark.parametrize("query", ["limit=1111493419172712153088", "offset=99999999999999999999999", "limit=-3&offset=-630"])
def test_out_of_range_pagination_is_clamped_not_an_error(mfa_personas, api, query):
    make_license(mfa_personas)
    response = api("bob").get(f"{reverse('license-list')}?{query}")
    assert response.status_code == 200 and "results" in response.json()


def test_an_auditor_reads_the_studios_licenses_and_changes_nothing(mfa_personas, django_user_model):
    from consent import services as consent

    auditor = django_user_model.objects.create_user(username="ada", password="pw-ada-auditor")
    consent.membership_add(organization=mfa_personas.studio, user=auditor, role="auditor", acting_user=mfa_personas.dana)
    license = make_license(mfa_personas, signed=False, countersigned=False)
    client = APIClient()
    client.force_login(auditor)
    assert client.get(reverse("license-detail", kwargs={"pk": license.id})).status_code == 200
    before = AuditEvent.objects.count()
    assert client.post(reverse("license-revoke", kwargs={"pk": license.id}), {"reason": "x"}, format="json").status_code in (401, 403)
    assert client.post(reverse("render-list"), _render_body(license), format="json").status_code == 404
    assert AuditEvent.objects.count() == before
