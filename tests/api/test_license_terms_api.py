"""The API takes license terms in the shape the terms' schema gives (consent.license_terms) and
leaves judging them to the consent services, as the portal does: the two cannot disagree."""

from __future__ import annotations

import pytest
from django.urls import reverse

from consent.api import LicenseInput, SuspendInput
from consent.license_terms import LICENSE_FIELDS, MAX_RENDERS, TERM
from consent.models import LicenseSuspension, LikenessLicense
from consent.services import SUSPENSION_REASONS
from tests.conftest import make_license

pytestmark = pytest.mark.django_db
ERROR_KEYS = {"code", "message", "field", "errors"}


def test_the_draft_input_is_the_schemas_terms_with_its_bounds():
    fields = LicenseInput().fields
    assert list(fields) == ["talent", "licensee", *LICENSE_FIELDS]
    assert (fields["max_renders"].min_value, fields["max_renders"].max_value) == (1, MAX_RENDERS)
    for name in LICENSE_FIELDS:
        term, field = TERM[name], fields[name]
        assert field.required == term.required, name
        if term.choices and hasattr(field, "choices"):
            assert list(field.choices) == list(dict(term.choices)), name
        if term.max_items:
            assert (field.max_length, field.child.max_length) == (term.max_items, term.max_length), name
        elif term.max_length and name != "compensation_currency":
            assert field.max_length == term.max_length, name
    assert list(SuspendInput().fields["reason"].choices) == [reason.value for reason in SUSPENSION_REASONS]


def test_a_suspension_for_another_reason_without_a_note_is_refused_as_in_the_portal(mfa_personas, api):
    license = make_license(mfa_personas)
    url = reverse("license-suspend", kwargs={"pk": license.id})
    for body in ({"reason": "other"}, {"reason": "other", "note": "  "}):
        response = api("dana").post(url, body, format="json")
        assert response.status_code == 400, response.content
        error = response.json()
        assert set(error) == ERROR_KEYS and (error["code"], error["field"]) == ("invalid", "note"), error
        assert error["message"] == "Say what the suspension is for."
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.COUNTERSIGNED and not LicenseSuspension.objects.exists()
    response = api("dana").post(url, {"reason": "other", "note": "The location is unsafe."}, format="json")
    assert response.status_code == 200, response.content
    assert LicenseSuspension.objects.get().note == "The location is unsafe."
