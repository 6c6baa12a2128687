"""The license terms are defined once (consent.license_terms): the field lists, the models, the
text's dataclass and the one validation every way in (API, portal, templates) goes through."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from django.utils import timezone

from core.errors import ValidationFailed
from consent import license_templates, license_terms, services
from consent.license_terms import LICENSE_FIELDS, TEMPLATE_FIELDS, TERM, TERMS
from consent.models import LicenseSuspension, LicenseTemplate, LikenessLicense, UseTerms
from consent.terms import LicenseTerms
from tests.conftest import LICENSE_TERMS, make_license, verify_identity

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def verified(personas):  # type: ignore[no-untyped-def]
    return verify_identity(personas, personas.talent)


def _draft(personas, **changes):  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    return services.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.erin, **{
        **LICENSE_TERMS, "permitted_media": ["video"], "starts_on": today, "ends_on": today + timedelta(days=30),
        "max_renders": 3, **changes})


# --- one schema ------------------------------------------------------------------------------

def test_the_field_lists_are_the_schemas_in_their_old_order():
    assert LICENSE_FIELDS == (
        "project", "role", "use_description", "permitted_media", "territories", "languages", "dubbing",
        "advertising", "interactive", "derivatives", "allows_likeness_model", "excluded_categories", "excluded_uses",
        "requires_use_approval", "max_renders", "starts_on", "ends_on", "representation", "representation_detail",
        "compensation_basis", "compensation_rate", "compensation_currency")
    assert TEMPLATE_FIELDS == (
        "project", "role", "use_description", "permitted_media", "territories", "languages", "dubbing",
        "advertising", "interactive", "derivatives", "allows_likeness_model", "excluded_categories", "excluded_uses",
        "requires_use_approval", "max_renders", "term_months", "representation", "representation_detail",
        "compensation_basis", "compensation_rate", "compensation_currency")
    assert license_templates.TEMPLATE_FIELDS is TEMPLATE_FIELDS
    assert license_terms.MAX_RENDERS == TERM["max_renders"].max_value


def test_the_models_hold_every_term_with_the_schemas_lengths_and_choices():
    shared = {field.name for field in UseTerms._meta.get_fields()}
    assert shared <= set(LICENSE_FIELDS) & set(TEMPLATE_FIELDS)
    for model, names in ((LikenessLicense, LICENSE_FIELDS), (LicenseTemplate, TEMPLATE_FIELDS)):
        for name in names:
            field = model._meta.get_field(name)
            term = TERM[name]
            if term.max_length is not None and field.get_internal_type() == "CharField":
                assert field.max_length == term.max_length, (model, name)
            if field.choices:
                assert list(field.choices) == list(term.choices), (model, name)


def test_the_license_texts_terms_are_the_schemas():
    fields = {field.name for field in dataclasses.fields(LicenseTerms)}
    assert fields == set(LICENSE_FIELDS) | {"talent_name", "licensee_name", "capacity", "version"}


def test_every_term_has_a_label_and_its_kinds_bounds():
    for term in TERMS:
        assert term.label and term.name.replace("_", "").isalpha()
        if term.kind in ("choice", "choices"):
            assert term.choices
        if term.kind in ("choices", "codes", "phrases"):
            assert term.max_items and term.max_length
        if not term.required:
            assert term.default is not None


# --- the license text does not change -----------------------------------------------------
# A change of wording changes only the text of new drafts: a signed text is stored, hashed and
# checked as it was signed (tests/portal/test_readable.py signs one in an earlier wording).

@pytest.mark.parametrize("changes, sha256", [
    ({}, "7092754d6bea3691377049357e75e4cc85194490bd95daf21e59c7d7fd3b08a5"),
    ({"excluded_uses": ["horse riding", "scenes in a hospital"], "representation": "union",
      "representation_detail": "SAG-AFTRA 2026", "dubbing": True, "allows_likeness_model": True},
     "cc6ce37ad6e398c658f153b5384e215f648443fdbb7650d358c8deb38be1b9c4"),
])
def test_the_text_of_a_license_and_its_digest_are_as_before(personas, changes, sha256):
    license = _draft(personas, permitted_media=["video", "image"], starts_on=date(2026, 3, 1),
                     ends_on=date(2027, 2, 28), max_renders=7, excluded_categories=["sexual", "political"], **changes)
    assert license.text_sha256 == sha256


# --- drift fixed: the service is the one judge ----------------------------------------------

@pytest.mark.parametrize("changes, field", [
    ({"compensation_currency": "EUR\n"}, "compensation_currency"),
    ({"territories": ["FR\n"]}, "territories"),
    ({"languages": ["en\n"]}, "languages"),
    ({"project": "p" * 201}, "project"),
    ({"role": "r" * 201}, "role"),
    ({"representation": "counsel", "representation_detail": "d" * 201}, "representation_detail"),
    ({"use_description": "Lead role in the short film Night Market. " * 100}, "use_description"),
])
def test_terms_the_columns_or_the_patterns_do_not_hold_are_refused_with_their_field(personas, changes, field):
    with pytest.raises(ValidationFailed) as refused:
        _draft(personas, **changes)
    assert refused.value.field == field
    assert not LikenessLicense.objects.exists()


def test_terms_at_their_bounds_are_drafted(personas):
    license = _draft(personas, project="p" * 200, max_renders=license_terms.MAX_RENDERS,
                     use_description="u" * license_terms.MAX_USE_DESCRIPTION)
    assert (len(license.project), license.max_renders) == (200, 1_000_000)


def test_other_needs_a_note_in_the_service_that_suspends(personas, active_license):
    for note in ("", "   "):
        with pytest.raises(ValidationFailed) as refused:
            services.license_suspend(license=active_license, reason="other", note=note, acting_user=personas.dana)
        assert refused.value.field == "note" and refused.value.message == "Say what the suspension is for."
    active_license.refresh_from_db()
    assert active_license.status == LikenessLicense.Status.COUNTERSIGNED and not LicenseSuspension.objects.exists()
    suspension = services.license_suspend(license=active_license, reason="other", note=" Location unsafe. ",
                                          acting_user=personas.dana)
    assert (suspension.reason, suspension.note) == ("other", "Location unsafe.")


def test_a_person_suspends_for_a_strike_a_dispute_or_another_reason_not_the_platforms(personas, active_license):
    assert [reason.value for reason in services.SUSPENSION_REASONS] == ["strike", "dispute", "other"]
    with pytest.raises(ValidationFailed) as refused:
        services.license_suspend(license=active_license, reason=LicenseSuspension.Reason.REPRESENTATION, note="x",
                                 acting_user=personas.dana)
    assert refused.value.field == "reason" and refused.value.message == "The reason is strike, dispute or other."
    assert not LicenseSuspension.objects.exists()


# --- excluded uses, the recent term, everywhere ---------------------------------------------

def test_excluded_uses_go_from_a_template_to_a_license_and_its_amendment(personas):
    template = license_templates.license_template_create(
        organization=personas.studio, name="Crowd", acting_user=personas.dana,
        use_description="Background extra in crowd scenes of one music video, never in close-up.",
        permitted_media=["video"], territories=["FR"], languages=["fr"], max_renders=3, term_months=2,
        compensation_basis="flat", compensation_rate="300", compensation_currency="EUR",
        excluded_uses=["  horse   riding ", "horse riding", "scenes in a hospital"])
    assert template.excluded_uses == ["horse riding", "scenes in a hospital"]
    terms = license_templates.draft_terms(template, starts_on=timezone.localdate())
    license = services.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.erin,
                                     **{**terms, "project": "Night Market", "role": "Extra"})
    assert license.excluded_uses == ["horse riding", "scenes in a hospital"]
    assert "Nor these uses, in the Talent's own words: horse riding; scenes in a hospital." in license.text
    license = make_license(personas, excluded_uses=["skydiving"])
    amendment = services.license_amend(license=license, changes={"max_renders": 9}, acting_user=personas.dana)
    assert amendment.excluded_uses == ["skydiving"]
    with pytest.raises(ValidationFailed) as refused:
        _draft(personas, excluded_uses="skydiving")
    assert refused.value.field == "excluded_uses"
