"""The API's side of what it shares with the portal: who may revoke a license now (checked
before a step-up code is asked for), and files (render outputs, evidence) answered by the one
response helper, core.downloads."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from consent import desk, services
from generation.models import RenderOutput
from generation.services import render as renders
from tests.conftest import SMALL_RENDER, make_license
from tests.consent.evidence import evidence_files

pytestmark = pytest.mark.django_db


def _token_client(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_revocation_the_policy_refuses_is_refused_before_any_step_up(mfa_personas):
    license = make_license(mfa_personas)
    url = reverse("license-revoke", kwargs={"pk": license.id})
    producer = _token_client(mfa_personas.bob).post(url, {"reason": "Not mine to withdraw."}, format="json")
    assert producer.status_code == 403 and producer.json()["code"] == "not_allowed", producer.content
    services.license_revoke(license=license, reason="Withdrawn.", acting_user=mfa_personas.alice)
    again = _token_client(mfa_personas.alice).post(url, {"reason": "Withdrawn twice."}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition", again.content
    assert "not in a state that can be revoked" in again.json()["message"]


def test_an_output_downloads_as_a_private_attachment(api, mfa_personas, tiny_model):
    job = renders.render_job_request(license_id=str(make_license(mfa_personas).id), prompt="sks person walking",
                                     params=SMALL_RENDER, acting_user=mfa_personas.bob)
    renders.render_job_execute(job_id=str(job.id), worker="w")
    output = RenderOutput.objects.get(job=job)
    response = api("bob").get(reverse("render-download", kwargs={"pk": job.id}))
    assert response.status_code == 200 and response["Content-Type"] == "video/mp4"
    assert response["Content-Disposition"] == f'attachment; filename="{output.id}.mp4"'
    assert response["X-Content-Type-Options"] == "nosniff" and response["Cache-Control"] == "private"


def test_evidence_downloads_as_an_attachment_never_stored(api, mfa_personas):
    verification = desk.identity_verification_request(talent=mfa_personas.talent, method="document",
                                                      acting_user=mfa_personas.alice)
    name, data = evidence_files()["id_document"]
    evidence = desk.identity_evidence_add(verification=verification, kind="id_document", data=data, filename=name,
                                          acting_user=mfa_personas.alice)
    response = api("frank").get(reverse("verification-evidence-file",
                                        kwargs={"pk": verification.id, "evidence_id": evidence.id}))
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"] == f'attachment; filename="{evidence.kind}-{evidence.id}"'
    assert response["X-Content-Type-Options"] == "nosniff" and response["Cache-Control"] == "no-store"


def test_the_data_export_is_an_attachment_never_stored(api, mfa_personas):
    make_license(mfa_personas)
    response = api("alice").post(reverse("me-export"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip", response.content
    assert response["Content-Disposition"] == 'attachment; filename="bespoke-export.zip"'
    assert response["X-Content-Type-Options"] == "nosniff" and response["Cache-Control"] == "no-store"
