"""Portal pages outside the browser story: scope (404), plain errors, the compliance report."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse

from generation.models import RenderOutput
from generation.services import render as renders
from tests.conftest import SMALL_RENDER, make_license

pytestmark = pytest.mark.django_db


def _client(client, user):  # type: ignore[no-untyped-def]
    from accounts.services import totp_enrol

    totp_enrol(user=user)
    client.force_login(user)
    return client


@pytest.fixture
def two_published_one_waiting(personas, tiny_model):  # type: ignore[no-untyped-def]
    license = make_license(personas)
    for prompt in ("sks person walking", "sks person reading"):
        job = renders.render_job_request(license_id=str(license.id), prompt=prompt, params=SMALL_RENDER,
                                         acting_user=personas.bob)
        renders.render_job_execute(job_id=str(job.id), worker="w")
    return renders.render_job_request(license_id=str(license.id), prompt="sks person waiting",
                                      params=SMALL_RENDER, acting_user=personas.bob)


def test_the_compliance_report_lists_every_published_output_one_for_one(client, personas, two_published_one_waiting):
    response = _client(client, personas.dana).get(reverse("portal-compliance-report"), {"as": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    outputs = RenderOutput.objects.order_by("created_at")
    assert [row["output_id"] for row in rows] == [str(o.id) for o in outputs]
    assert [row["manifest_label"] for row in rows] == [o.manifest_label for o in outputs]
    assert [row["watermark_id"] for row in rows] == [str(o.watermark_id) for o in outputs]
    assert {row["visible_label"] for row in rows} == {"AI-generated"}
    assert str(two_published_one_waiting.id) not in response.content.decode()


def test_the_compliance_pdf_has_one_row_per_published_output(client, personas, two_published_one_waiting):
    from pypdf import PdfReader

    client = _client(client, personas.dana)
    response = client.get(reverse("portal-compliance-report"), {"as": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-") and 'filename="compliance-' in response["Content-Disposition"]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    outputs = list(RenderOutput.objects.all())
    assert len(outputs) == 2
    for output in outputs:
        assert text.count(str(output.id)) == 1 and output.manifest_label.replace(" ", "")[:20] in text.replace("\n", "")
    assert str(two_published_one_waiting.id) not in text
    assert "Published outputs from" in text and ": 2." in text
    assert re.search(r"^2\s", text, re.MULTILINE) and not re.search(r"^3\s", text, re.MULTILINE)


def test_the_report_is_for_legal_staff_only_and_a_bad_period_is_explained(client, personas):
    assert _client(client, personas.bob).get(reverse("portal-compliance-report")).status_code == 404
    client.logout()
    response = _client(client, personas.dana).get(reverse("portal-compliance-report"),
                                                  {"start": "2026-11-30", "end": "2026-11-01"})
    assert response.status_code == 400 and b"must end on or after its start" in response.content


@pytest.mark.parametrize("name", ["portal-license", "portal-license-revoke"])
def test_a_page_outside_ones_scope_is_a_404(client, personas, name):
    license = make_license(personas)
    assert _client(client, personas.charlie).get(reverse(name, kwargs={"license_id": license.id})).status_code == 404


def test_an_invalid_render_request_shows_the_error_next_to_its_field(client, personas):
    license = make_license(personas)
    response = _client(client, personas.bob).post(reverse("portal-render-request", kwargs={"license_id": license.id}),
                                                  {"prompt": "", "num_frames": 99})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Describe the scene to render." in page and "less than or equal to 32" in page


def test_a_form_post_that_needs_a_fresh_second_factor_comes_back_to_its_form(client, personas):
    from urllib.parse import quote

    license = make_license(personas, signed=False, countersigned=False)
    page = reverse("portal-license", kwargs={"license_id": license.id})
    form = {"disclosure_accepted": "on", "text_sha256": license.text_sha256}
    response = _client(client, personas.alice).post(
        reverse("portal-license-sign", kwargs={"license_id": license.id}), form, HTTP_REFERER=f"http://testserver{page}")
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/2fa/reauthenticate/?next={quote(page, safe='')}"
    offsite = _client(client, personas.alice).post(
        reverse("portal-license-sign", kwargs={"license_id": license.id}), form,
        HTTP_REFERER="https://elsewhere.example/licenses/")
    assert "elsewhere" not in offsite["Location"]
    sneaky = _client(client, personas.alice).post(
        reverse("portal-license-sign", kwargs={"license_id": license.id}), form,
        HTTP_REFERER="http://testserver//elsewhere.example/licenses/")
    assert "elsewhere" not in sneaky["Location"]
    license.refresh_from_db()
    assert license.status == "offered"


def test_the_talent_sees_who_asks_for_a_use_and_under_which_license(client, personas):
    license = make_license(personas, requires_use_approval=True)
    renders.render_job_request(license_id=str(license.id), prompt="sks person tasting street food",
                               params=SMALL_RENDER, acting_user=personas.bob)
    page = _client(client, personas.alice).get(reverse("home")).content.decode()
    assert "Uses waiting for your approval" in page and "sks person tasting street food" in page
    assert f"{personas.studio.name}</strong> asks" in page
    assert reverse("portal-license", kwargs={"license_id": license.id}) in page
    client.logout()
    bob_page = _client(client, personas.bob).get(reverse("home")).content.decode()
    assert "Uses waiting for your approval" not in bob_page
