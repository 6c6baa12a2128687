"""What each persona's license list and a license say, field by field: the summary's fields
are pinned, and each value is the one DRF's own field-by-field reading gives."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from consent import desk, selectors, services
from consent.api import LicenseOutput, LicenseSummaryOutput, SignatureOutput
from tests.api.conftest import api, mfa_personas  # noqa: F401 (fixtures)
from tests.conftest import (
    approve_representation,
    make_license,
    sign_context,
    verify_identity,
)

pytestmark = pytest.mark.django_db

SUMMARY_FIELDS = {
    "id", "version", "previous", "status", "state", "talent", "licensee", "project", "role", "use_description",
    "permitted_media", "territories", "languages", "dubbing", "advertising", "interactive", "derivatives",
    "allows_likeness_model", "excluded_categories", "excluded_uses", "requires_use_approval", "max_renders",
    "starts_on", "ends_on", "capacity", "talent_side", "representation", "representation_detail",
    "compensation_basis", "compensation_rate", "compensation_currency", "text_sha256", "created_at", "signatures",
}


def _licenses(personas):  # type: ignore[no-untyped-def]
    """An active license, a revoked one, one offered and unsigned, and a draft."""
    active = make_license(personas)
    revoked = make_license(personas, project="Low Tide")
    services.license_revoke(license=revoked, reason="I no longer agree.", acting_user=personas.alice)
    offered = make_license(personas, signed=False, countersigned=False, project="Harbour Lights")
    draft = make_license(personas, offered=False, signed=False, countersigned=False, project="Salt Road")
    return [active, revoked, offered, draft]


def _drf(serializer: serializers.Serializer, instance: object) -> dict:
    return serializers.Serializer.to_representation(serializer, instance)


def test_each_persona_s_list_has_the_summary_fields_and_values(mfa_personas, api):  # noqa: F811
    active, revoked, offered, draft = _licenses(mfa_personas)

    for name in ("alice", "bob", "dana"):
        listed = {item["id"]: item for item in api(name).get(reverse("license-list")).json()["results"]}
        assert set(listed) == {str(license.pk) for license in (active, revoked, offered, draft)}, name
        assert all(set(item) == SUMMARY_FIELDS for item in listed.values()), name
        summary = listed[str(active.pk)]
        assert summary["state"] == "active" and summary["status"] == "countersigned"
        assert summary["talent"] == str(active.talent_id) and summary["licensee"] == str(active.licensee_id)
        assert summary["previous"] is None and summary["starts_on"] == active.starts_on.isoformat()
        assert summary["created_at"].endswith("Z") and summary["compensation_rate"] == float(active.compensation_rate)
        assert summary["talent_side"] == {"capacity": "adult", "signs": "talent", "representation": None,
                                          "why": "The talent is a verified adult and signs themself."}
        assert [signature["role"] for signature in summary["signatures"]] == ["talent", "licensee"]
        assert listed[str(revoked.pk)]["state"] == "revoked"
        assert listed[str(offered.pk)]["state"] == "offered" and listed[str(offered.pk)]["signatures"] == []
        assert listed[str(draft.pk)]["project"] == "Salt Road"
    assert api("charlie").get(reverse("license-list")).json()["results"] == []


def test_every_field_of_a_list_and_a_license_reads_as_drf_reads_it(mfa_personas):  # noqa: F811
    licenses = _licenses(mfa_personas)
    rows = list(selectors.licenses_for_user(user=mfa_personas.bob).defer("text").prefetch_related(None)
                .prefetch_related(Prefetch("signatures", to_attr="signature_list")))
    summary, signature = LicenseSummaryOutput(context={}), SignatureOutput()

    for license in rows:
        expected = {**_drf(LicenseSummaryOutput(context={}), license),
                    "signatures": [_drf(signature, each) for each in license.signature_list]}
        assert summary.to_representation(license) == expected

    whole = selectors.license_get_for_user(user=mfa_personas.bob, license_id=licenses[0].pk)
    expected = {**_drf(LicenseOutput(context={}), whole),
                "signatures": [_drf(signature, each) for each in whole.signatures.all()]}
    assert LicenseOutput(whole).data == expected and len(expected["signatures"]) == 2


def test_a_license_signed_by_a_guardian_names_the_representation_in_the_list_and_the_license(
        mfa_personas, api, django_user_model):  # noqa: F811
    guardian = django_user_model.objects.create_user(username="gwen", password="pw-gwen-guardian")
    today = timezone.localdate()
    verify_identity(mfa_personas, mfa_personas.talent, birth_date=date(today.year - 12, 1, 1))
    representation = approve_representation(mfa_personas, desk.representation_request(
        talent=mfa_personas.talent, representative=guardian, kind="guardian", acting_user=guardian))
    license = make_license(mfa_personas, verified=False, signed=False, countersigned=False, days=90)
    services.license_sign(license=license, context=sign_context(license), acting_user=guardian)
    services.license_countersign(license=license, context=sign_context(license), acting_user=mfa_personas.dana)

    listed = api("bob").get(reverse("license-list")).json()["results"]
    detail = api("bob").get(reverse("license-detail", args=[license.pk])).json()
    assert [item["talent_side"] for item in listed] == [detail["talent_side"]]
    assert detail["talent_side"]["representation"] == str(representation.pk)
    assert detail["talent_side"]["signs"] == "guardian" and detail["capacity"] == "minor"
    assert [signature["role"] for signature in listed[0]["signatures"]] == ["guardian", "licensee"]


def test_a_page_of_licenses_takes_as_many_queries_however_many_licenses_it_holds(mfa_personas, api):  # noqa: F811
    make_license(mfa_personas)
    client = api("bob")
    client.get(reverse("license-list"))
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("license-list")).json()["count"] == 1
    for project in ("Low Tide", "Harbour Lights", "Salt Road", "North Pier"):
        make_license(mfa_personas, verified=False, project=project)
    with CaptureQueriesContext(connection) as five:
        assert client.get(reverse("license-list")).json()["count"] == 5
    assert len(five) == len(one)
