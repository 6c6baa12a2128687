"""Consent services: verification is four-eyes, signatures bind the text, revocation is exact."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from consent import desk, services
from consent.models import LicenseUse, LikenessLicense
from tests.conftest import LICENSE_TERMS, approve_representation, make_license, sign_context, verify_identity

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def verified(personas):  # type: ignore[no-untyped-def]
    return verify_identity(personas, personas.talent)


def _terms(**changes):  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    return {**LICENSE_TERMS, "permitted_media": ["video"], "starts_on": today, "ends_on": today + timedelta(days=30),
            "max_renders": 3, "excluded_categories": [], **changes}


def test_a_vague_license_is_refused_and_nothing_is_stored(personas):
    before = (LikenessLicense.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationFailed) as error:
        services.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.erin,
                               **_terms(use_description="any use"))
    assert error.value.field == "use_description"
    assert (LikenessLicense.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize("change, field", [
    ({"permitted_media": ["hologram"]}, "permitted_media"),
    ({"ends_on_days": 0}, "ends_on"),
    ({"ends_on_days": 11 * 366}, "ends_on"),
    ({"ends_on": None}, "ends_on"),
    ({"max_renders": 0}, "max_renders"),
    ({"excluded_categories": ["sexual", "mystery"]}, "excluded_categories"),
    ({"territories": ["France"]}, "territories"),
    ({"languages": []}, "languages"),
    ({"project": " "}, "project"),
    ({"compensation_currency": "euro"}, "compensation_currency"),
    ({"compensation_rate": "a lot"}, "compensation_rate"),
    ({"compensation_basis": "vibes"}, "compensation_basis"),
    ({"representation": "counsel"}, "representation_detail"),
    ({"capacity": "minor"}, "capacity"),
    ({"talent_birth_date": "2015-06-01"}, "talent_birth_date"),
    ({"representative": 4}, "representative"),
    ({"perpetual": True}, "perpetual"),
])
def test_license_terms_are_validated_with_the_field_named(personas, change, field):
    today = timezone.localdate()
    if "ends_on_days" in change:
        change["ends_on"] = today + timedelta(days=change.pop("ends_on_days"))
    with pytest.raises(ValidationFailed) as error:
        services.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.erin,
                               **_terms(**change))
    assert error.value.field == field
    assert not LikenessLicense.objects.exists()


def test_a_minors_license_is_signed_by_the_verified_guardian_and_capped_at_eighteen(personas, django_user_model):
    guardian = django_user_model.objects.create_user(username="guardian", password="pw-guardian")
    today = timezone.localdate()
    personas.talent.verifications.update(birth_date=today.replace(year=today.year - 16))
    with pytest.raises(ValidationFailed, match="18th birthday"):
        services.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.erin,
                               **_terms(ends_on=today + timedelta(days=3 * 365)))
    license = services.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.erin,
                                     **_terms())
    assert (license.capacity, license.talent_birth_date) == ("minor", today.replace(year=today.year - 16))
    services.license_offer(license=license, acting_user=personas.erin)
    for not_the_guardian in (personas.alice, guardian):  # no guardian verified yet
        with pytest.raises(NotAllowed):
            services.license_sign(license=license, context=sign_context(license), acting_user=not_the_guardian)
    representation = approve_representation(personas, desk.representation_request(
        talent=personas.talent, representative=guardian, kind="guardian", acting_user=guardian))
    assert representation.valid_until == today.replace(year=today.year + 2)  # their 18th birthday
    with pytest.raises(NotAllowed):
        services.license_sign(license=license, context=sign_context(license), acting_user=personas.alice)
    services.license_sign(license=license, context=sign_context(license), acting_user=guardian)
    signature = license.signatures.get()
    assert (signature.role, signature.representation) == ("guardian", representation)
    assert (license.signed_by, license.signed_under) == (guardian, representation)


def test_only_the_licensee_legal_staff_draft(personas):
    with pytest.raises(NotAllowed):
        services.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.bob, **_terms())


def test_signing_binds_the_text_and_the_disclosure_the_talent_saw(personas):
    license = make_license(personas, signed=False, countersigned=False)
    with pytest.raises(ValidationFailed, match="changed"):
        services.license_sign(license=license, context=services.SignatureContext(
            text_sha256_seen="0" * 64, disclosure_accepted=True, authentication_method="mfa"), acting_user=personas.alice)
    with pytest.raises(ValidationFailed, match="disclosure"):
        services.license_sign(license=license, context=services.SignatureContext(
            text_sha256_seen=license.text_sha256, disclosure_accepted=False, authentication_method="mfa"),
            acting_user=personas.alice)
    with pytest.raises(NotAllowed):
        services.license_sign(license=license, context=sign_context(license), acting_user=personas.bob)
    assert not license.signatures.exists()
    services.license_sign(license=license, context=sign_context(license), acting_user=personas.alice)
    event = license.signatures.get()
    assert (event.role, event.document_sha256, event.ip_address, event.authentication_method, event.disclosure_version) == (
        "talent", license.text_sha256, "192.0.2.1", "mfa", "2026-11")
    with pytest.raises(InvalidTransition):
        services.license_sign(license=license, context=sign_context(license), acting_user=personas.alice)


def test_countersigning_needs_the_talent_signature_first(personas):
    license = make_license(personas, signed=False, countersigned=False)
    with pytest.raises(InvalidTransition, match="talent signed"):
        services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)


def test_revocation_lists_the_outputs_already_published(personas, active_license):
    LicenseUse.objects.create(license=active_license, output_ref="out-a", job_ref="job-a")
    LicenseUse.objects.create(license=active_license, output_ref="out-b", job_ref="job-b")
    revocation = services.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    assert revocation.published_outputs == ["out-a", "out-b"]
    event = AuditEvent.objects.filter(action="license.revoked").get()
    assert '"published_outputs":["out-a","out-b"]' in event.body
    assert "Withdrawn" not in event.body


def test_revocation_is_for_the_talent_or_licensee_legal_only_and_happens_once(personas, active_license):
    for outsider in (personas.bob, personas.charlie):
        with pytest.raises(NotAllowed):
            services.license_revoke(license=active_license, reason="x", acting_user=outsider)
    services.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    with pytest.raises(InvalidTransition):
        services.license_revoke(license=active_license, reason="Again.", acting_user=personas.dana)


def test_every_state_change_writes_one_audit_event(personas):
    before = AuditEvent.objects.count()
    license = make_license(personas)  # draft, offer, sign, countersign (the desk verified her already)
    assert AuditEvent.objects.count() == before + 4
    actions = list(AuditEvent.objects.order_by("-seq").values_list("action", flat=True)[:7])
    assert actions == ["license.countersigned", "license.signed", "license.offered", "license.drafted",
                       "identity.verification_approved", "identity.verification_first_approval",
                       "identity.verification_requested"]
    assert license.status == "countersigned"


@pytest.mark.django_db
@pytest.mark.parametrize("rate", ["NaN", "sNaN", "Infinity", "-0.01", "1e10"])
def test_a_compensation_rate_that_is_not_a_finite_amount_is_refused_with_its_field(personas, rate):
    before = LikenessLicense.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        make_license(personas, offered=False, signed=False, countersigned=False, compensation_rate=rate)
    assert refused.value.field == "compensation_rate"
    assert LikenessLicense.objects.count() == before
