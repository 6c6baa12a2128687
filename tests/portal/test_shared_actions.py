"""What the portal and the API do through one implementation: who may revoke a license now
(consent.policies.refuse_license_revoke), a render output as a file (generation.downloads),
and which organisation a compliance report is of (chosen, never an arbitrary one)."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from consent import services as consent
from consent.models import Membership
from generation.models import RenderOutput
from generation.services import render as renders
from tests.conftest import SMALL_RENDER, make_license

pytestmark = pytest.mark.django_db


def _signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    from accounts.services import totp_enrol

    totp_enrol(user=user)
    client = Client()
    client.force_login(user)
    return client


def _publish(license, producer) -> RenderOutput:  # type: ignore[no-untyped-def]
    job = renders.render_job_request(license_id=str(license.id), prompt="sks person walking", params=SMALL_RENDER,
                                     acting_user=producer)
    renders.render_job_execute(job_id=str(job.id), worker="w")
    return RenderOutput.objects.get(job=job)


# --- who may revoke a license, now --------------------------------------------------------------

def test_the_revoke_page_of_a_license_that_cannot_be_revoked_offers_no_form(personas):
    license = make_license(personas)
    consent.license_revoke(license=license, reason="Withdrawn.", acting_user=personas.alice)
    alice = _signed_in(personas.alice)
    page = alice.get(reverse("portal-license-revoke", kwargs={"license_id": license.id})).content.decode()
    assert "not in a state that can be revoked" in page and "Revoke now" not in page
    license_page = alice.get(reverse("portal-license", kwargs={"license_id": license.id})).content.decode()
    assert reverse("portal-license-revoke", kwargs={"license_id": license.id}) not in license_page


def test_the_revoke_page_refuses_a_producer_and_offers_the_talent_the_form(personas):
    license = make_license(personas)
    url = reverse("portal-license-revoke", kwargs={"license_id": license.id})
    producer = _signed_in(personas.bob).get(url).content.decode()
    assert "Only the talent, their representative or the licensee" in producer and "Revoke now" not in producer
    assert "Revoke now" in _signed_in(personas.alice).get(url).content.decode()


# --- a render output as a file ------------------------------------------------------------------

def test_an_output_downloads_as_a_private_attachment_and_previews_in_place(personas, tiny_model):
    output = _publish(make_license(personas), personas.bob)
    url = reverse("portal-render-download", kwargs={"job_id": output.job_id})
    bob = _signed_in(personas.bob)
    download = bob.get(url)
    assert download.status_code == 200 and download["Content-Type"] == "video/mp4"
    assert download["Content-Disposition"] == f'attachment; filename="{output.id}.mp4"'
    assert download["X-Content-Type-Options"] == "nosniff" and download["Cache-Control"] == "private"
    preview = bob.get(url, {"inline": "1"})
    assert preview["Content-Disposition"] == f'inline; filename="{output.id}.mp4"'
    assert preview["Cache-Control"] == "private"
    assert _signed_in(personas.charlie).get(url).status_code == 404


# --- the compliance report's organisation -------------------------------------------------------

@pytest.fixture
def legal_of_two(personas, tiny_model):  # type: ignore[no-untyped-def]
    """Dana, legal staff of the licensee (Northlight, two outputs published) and of Harbour
    Pictures (none), which sorts first."""
    consent.membership_add(organization=personas.other_studio, user=personas.dana, role=Membership.Role.LEGAL,
                           acting_user=personas.dana)
    license = make_license(personas)
    return [_publish(license, personas.bob) for _ in range(2)]


def test_a_legal_user_of_two_organisations_chooses_which_one_the_report_is_of(client, personas, legal_of_two):
    dana = _signed_in(personas.dana)
    url = reverse("portal-compliance-report")

    choose = dana.get(url)
    page = choose.content.decode()
    assert choose.status_code == 200 and "choose the one to report on" in page
    assert str(personas.studio.id) in page and str(personas.other_studio.id) in page
    assert dana.get(url, {"as": "csv"}).status_code == 400, "no file of an organisation nobody chose"

    northlight = dana.get(url, {"organization": str(personas.studio.id), "as": "csv"})
    assert northlight.status_code == 200
    rows = list(csv.DictReader(io.StringIO(northlight.content.decode())))
    assert sorted(row["output_id"] for row in rows) == sorted(str(output.id) for output in legal_of_two)
    harbour = dana.get(url, {"organization": str(personas.other_studio.id), "as": "csv"})
    assert list(csv.DictReader(io.StringIO(harbour.content.decode()))) == []
    page = dana.get(url, {"organization": str(personas.studio.id)}).content.decode()
    assert "Northlight Studios" in page and f"organization={personas.studio.id}" in page


def test_a_report_is_only_of_an_organisation_the_user_is_legal_staff_of(personas):
    erin = _signed_in(personas.erin)  # legal staff of Northlight only: it is her report without asking
    url = reverse("portal-compliance-report")
    assert "Northlight Studios" in erin.get(url).content.decode()
    for organization in (str(personas.other_studio.id), str(personas.operator.id), "not-a-uuid"):
        assert erin.get(url, {"organization": organization}).status_code == 404
