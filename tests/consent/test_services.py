"""Consent services: verification is four-eyes, signatures bind the text, revocation is exact."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from bespoke.errors import InvalidTransition, NotAllowed, ValidationFailed
from consent import services
from consent.models import LicenseUse, LikenessLicense
from tests.conftest import make_license

pytestmark = pytest.mark.django_db


def test_a_verification_cannot_be_decided_by_its_requester(personas):
    verification = services.identity_verification_request(talent=personas.talent, method="document", acting_user=personas.dana)
    with pytest.raises(NotAllowed, match="Four eyes"):
        services.identity_verification_decide(verification=verification, approve=True, note="", acting_user=personas.dana)
    services.identity_verification_decide(verification=verification, approve=True, note="", acting_user=personas.erin)
    verification.refresh_from_db()
    assert verification.status == "approved" and verification.decided_by == personas.erin


def test_only_legal_staff_verify_identity(personas):
    verification = services.identity_verification_request(talent=personas.talent, method="document", acting_user=personas.alice)
    for outsider in (personas.bob, personas.charlie, personas.alice):
        with pytest.raises(NotAllowed):
            services.identity_verification_decide(verification=verification, approve=True, note="", acting_user=outsider)
    verification.refresh_from_db()
    assert verification.status == "pending"


def test_a_vague_license_is_refused_and_nothing_is_stored(personas):
    before = (LikenessLicense.objects.count(), AuditEvent.objects.count())
    today = timezone.localdate()
    with pytest.raises(ValidationFailed) as error:
        services.license_draft(talent=personas.talent, licensee=personas.studio, use_description="any use",
                               permitted_media=["video"], starts_on=today, ends_on=today + timedelta(days=30),
                               max_renders=3, excluded_categories=[], acting_user=personas.erin)
    assert error.value.field == "use_description"
    assert (LikenessLicense.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize("change, field", [
    ({"permitted_media": ["hologram"]}, "permitted_media"),
    ({"ends_on_days": 0}, "ends_on"),
    ({"max_renders": 0}, "max_renders"),
    ({"excluded_categories": ["sexual", "mystery"]}, "excluded_categories"),
])
def test_license_terms_are_validated(personas, change, field):
    today = timezone.localdate()
    terms = {"use_description": "Lead role in the short film Night Market, walking and close-up scenes.",
             "permitted_media": ["video"], "starts_on": today, "ends_on": today + timedelta(days=change.pop("ends_on_days", 30)),
             "max_renders": 3, "excluded_categories": []}
    terms.update(change)
    with pytest.raises(ValidationFailed) as error:
        services.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.erin, **terms)
    assert error.value.field == field


def test_only_the_licensee_legal_staff_draft(personas):
    today = timezone.localdate()
    with pytest.raises(NotAllowed):
        services.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.bob,
                               use_description="Lead role in the short film Night Market, walking and close-up scenes.",
                               permitted_media=["video"], starts_on=today, ends_on=today + timedelta(days=3),
                               max_renders=1, excluded_categories=[])


def test_signing_binds_the_text_the_talent_saw(personas):
    license = make_license(personas, signed=False, countersigned=False)
    with pytest.raises(ValidationFailed, match="changed"):
        services.license_sign(license=license, text_sha256_seen="0" * 64, ip_address=None, acting_user=personas.alice)
    with pytest.raises(NotAllowed):
        services.license_sign(license=license, text_sha256_seen=license.text_sha256, ip_address=None, acting_user=personas.bob)
    signed = services.license_sign(license=license, text_sha256_seen=license.text_sha256, ip_address="192.0.2.7",
                                   acting_user=personas.alice)
    assert signed.talent_signed_sha256 == license.text_sha256 and signed.talent_signed_ip == "192.0.2.7"
    with pytest.raises(InvalidTransition):
        services.license_sign(license=license, text_sha256_seen=license.text_sha256, ip_address=None, acting_user=personas.alice)


def test_countersigning_needs_the_talent_signature_first(personas):
    license = make_license(personas, signed=False, countersigned=False)
    with pytest.raises(InvalidTransition, match="talent must sign"):
        services.license_countersign(license=license, text_sha256_seen=license.text_sha256, ip_address=None,
                                     acting_user=personas.dana)


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
    license = make_license(personas)  # request + decide verification, draft, sign, countersign
    assert AuditEvent.objects.count() == before + 5
    actions = list(AuditEvent.objects.order_by("-seq").values_list("action", flat=True)[:5])
    assert actions == ["license.countersigned", "license.signed_by_talent", "license.drafted",
                       "identity.verification_approved", "identity.verification_requested"]
    assert license.countersigned_at is not None
