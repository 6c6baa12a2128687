"""The verification desk: verifiers of the platform operator establish identity, age,
death and representation from sealed evidence, two of them for each approval."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from consent import desk, gate, policies, services
from consent.facts import talent_facts
from consent.models import IdentityVerification, Membership, Representation
from tests.conftest import ADULT_BIRTH_DATE, approve_representation, make_license, sign_context, verify_identity
from tests.consent.evidence import evidence_files, pdf_text

pytestmark = pytest.mark.django_db


def _years_ago(years: int) -> date:
    today = timezone.localdate()
    return today.replace(year=today.year - years)


@pytest.fixture
def in_person(personas):  # type: ignore[no-untyped-def]
    return desk.identity_verification_request(talent=personas.talent, method="in_person", acting_user=personas.alice)


def test_approval_takes_two_different_verifiers_the_first_recording_the_facts(personas, in_person):
    desk.identity_verification_decide(verification=in_person, approve=True, acting_user=personas.frank,
                                      legal_name="  Alice   Avery ", birth_date=ADULT_BIRTH_DATE)
    assert not talent_facts(talent_id=personas.talent.id).verified
    with pytest.raises(NotAllowed, match="second, different verifier"):
        desk.identity_verification_decide(verification=in_person, approve=True, acting_user=personas.frank)
    desk.identity_verification_decide(verification=in_person, approve=True, acting_user=personas.grace)
    in_person.refresh_from_db()
    assert (in_person.status, in_person.legal_name, in_person.birth_date) == ("approved", "Alice Avery", ADULT_BIRTH_DATE)
    facts = talent_facts(talent_id=personas.talent.id)
    assert facts.verified and facts.capacity_on(timezone.localdate()) == "adult"


def test_the_second_verifier_confirms_the_same_facts_or_nothing_changes(personas, in_person):
    desk.identity_verification_decide(verification=in_person, approve=True, acting_user=personas.frank,
                                      legal_name="Alice Avery", birth_date=ADULT_BIRTH_DATE)
    with pytest.raises(ValidationFailed) as error:
        desk.identity_verification_decide(verification=in_person, approve=True, acting_user=personas.grace,
                                          birth_date=_years_ago(15))
    assert error.value.field == "birth_date"
    in_person.refresh_from_db()
    assert in_person.status == "pending" and in_person.birth_date == ADULT_BIRTH_DATE


@pytest.mark.parametrize("legal_name, birth_date, field", [
    ("", ADULT_BIRTH_DATE, "legal_name"),
    ("Alice Avery", None, "birth_date"),
    ("Alice Avery", date(2999, 1, 1), "birth_date"),
    ("Alice Avery", date(1800, 1, 1), "birth_date"),
])
def test_the_first_approval_must_record_plausible_facts(personas, in_person, legal_name, birth_date, field):
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as error:
        desk.identity_verification_decide(verification=in_person, approve=True, acting_user=personas.frank,
                                          legal_name=legal_name, birth_date=birth_date)
    assert error.value.field == field
    in_person.refresh_from_db()
    assert in_person.first_approved_by is None and AuditEvent.objects.count() == events


def test_no_studio_member_the_talent_or_the_requester_decides(personas, in_person, django_user_model):
    for studio_member in (personas.dana, personas.erin, personas.bob, personas.charlie):
        with pytest.raises(NotAllowed, match="Only verifiers of the platform operator"):
            desk.identity_verification_decide(verification=in_person, approve=False, note="no", acting_user=studio_member)
    # a verifier who is themself enrolled as talent cannot decide on themself
    own = desk.identity_verification_request(
        talent=services.talent_enrol(user=personas.frank, display_name="Frank F", acting_user=personas.frank),
        method="in_person", acting_user=personas.frank)
    with pytest.raises(NotAllowed, match="Four eyes|their own"):
        desk.identity_verification_decide(verification=own, approve=True, acting_user=personas.frank,
                                          legal_name="Frank F", birth_date=ADULT_BIRTH_DATE)


def test_a_rejection_needs_a_reason_and_ends_the_request(personas, in_person):
    with pytest.raises(ValidationFailed):
        desk.identity_verification_decide(verification=in_person, approve=False, note=" ", acting_user=personas.grace)
    desk.identity_verification_decide(verification=in_person, approve=False, note="Not the same person.",
                                      acting_user=personas.grace)
    in_person.refresh_from_db()
    assert in_person.status == "rejected" and in_person.decided_by == personas.grace
    with pytest.raises(InvalidTransition):
        desk.identity_verification_decide(verification=in_person, approve=True, acting_user=personas.frank,
                                          legal_name="Alice", birth_date=ADULT_BIRTH_DATE)


def test_verifiers_and_studios_are_kept_apart(personas):
    with pytest.raises(NotAllowed, match="verifier"):
        services.membership_add(organization=personas.studio, user=personas.frank, role=Membership.Role.LEGAL,
                                acting_user=personas.dana)
    with pytest.raises(NotAllowed, match="cannot be a member of a studio"):
        services.membership_add(organization=personas.operator, user=personas.dana, role=Membership.Role.VERIFIER,
                                acting_user=personas.frank)
    with pytest.raises(NotAllowed):
        services.membership_add(organization=personas.studio, user=personas.alice, role=Membership.Role.VERIFIER,
                                acting_user=personas.dana)
    assert policies.is_verifier(personas.frank) and not policies.is_verifier(personas.dana)


def test_desk_audit_events_hold_no_name_or_date_of_birth(personas, in_person):
    desk.identity_verification_decide(verification=in_person, approve=True, acting_user=personas.frank,
                                      legal_name="Alice Avery", birth_date=ADULT_BIRTH_DATE)
    desk.identity_verification_decide(verification=in_person, approve=True, acting_user=personas.grace)
    bodies = " ".join(AuditEvent.objects.values_list("body", flat=True))
    assert "Alice" not in bodies and ADULT_BIRTH_DATE.isoformat() not in bodies


# --- representations ------------------------------------------------------------------------

@pytest.fixture
def guardian(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_user(username="gwen", password="pw-gwen-guardian")


def _guardian_of_a_minor(personas, guardian):  # type: ignore[no-untyped-def]
    verify_identity(personas, personas.talent, birth_date=_years_ago(12))
    return approve_representation(personas, desk.representation_request(
        talent=personas.talent, representative=guardian, kind="guardian", acting_user=guardian))


def test_a_guardian_is_verified_by_two_verifiers_and_their_authority_ends_at_eighteen(personas, guardian):
    representation = _guardian_of_a_minor(personas, guardian)
    assert representation.status == "approved"
    assert (representation.first_approved_by, representation.decided_by) == (personas.frank, personas.grace)
    assert representation.valid_until == _years_ago(12).replace(year=_years_ago(12).year + 18)
    assert representation.representative_legal_name == "Gwen Example"


def test_a_representation_needs_all_its_evidence_and_only_the_representative_uploads_it(personas, guardian):
    verify_identity(personas, personas.talent, birth_date=_years_ago(12))
    representation = desk.representation_request(talent=personas.talent, representative=guardian, kind="guardian",
                                                 acting_user=personas.alice)
    files = evidence_files()
    with pytest.raises(NotAllowed, match="Only the representative"):
        desk.representation_evidence_add(representation=representation, kind="authority", data=files["authority"][1],
                                         filename="a.pdf", acting_user=personas.alice)
    desk.representation_evidence_add(representation=representation, kind="authority", data=files["authority"][1],
                                     filename="a.pdf", acting_user=guardian)
    with pytest.raises(InvalidTransition, match="consent capture, id document missing"):
        desk.representation_decide(representation=representation, approve=True, acting_user=personas.frank,
                                   legal_name="Gwen")
    with pytest.raises(ValidationFailed, match="image"):
        desk.representation_evidence_add(representation=representation, kind="id_document",
                                         data=files["authority"][1], filename="id.pdf", acting_user=guardian)


def test_who_may_ask_for_which_representation(personas, guardian):
    verify_identity(personas, personas.talent)
    cases = [
        (personas.alice, personas.alice, "agent", "their own representative"),
        (guardian, guardian, "agent", "Only the talent appoints their agent"),
        (personas.alice, guardian, "estate", "executor asks"),
        (personas.charlie, guardian, "guardian", "Only the talent or the representative"),
        (personas.alice, personas.frank, "agent", "verifier"),
    ]
    for acting, representative, kind, message in cases:
        with pytest.raises(NotAllowed, match=message):
            desk.representation_request(talent=personas.talent, representative=representative, kind=kind,
                                        acting_user=acting)
    make_license(personas, offered=False, signed=False, countersigned=False)  # Northlight works with her
    with pytest.raises(NotAllowed, match="member of a studio"):
        desk.representation_request(talent=personas.talent, representative=personas.dana, kind="agent",
                                    acting_user=personas.alice)
    assert not Representation.objects.exists()


def test_the_desk_checks_a_representation_against_the_verified_facts(personas, guardian):
    verify_identity(personas, personas.talent)  # an adult
    representation = desk.representation_request(talent=personas.talent, representative=guardian, kind="guardian",
                                                 acting_user=guardian)
    for kind, (name, data) in evidence_files().items():
        desk.representation_evidence_add(representation=representation, kind=kind, data=data, filename=name,
                                         acting_user=guardian)
    with pytest.raises(InvalidTransition, match="A guardian represents a minor"):
        desk.representation_decide(representation=representation, approve=True, acting_user=personas.frank,
                                   legal_name="Gwen")
    estate = desk.representation_request(talent=personas.talent, representative=guardian, kind="estate",
                                         acting_user=guardian)
    for kind, (name, data) in evidence_files().items():
        desk.representation_evidence_add(representation=estate, kind=kind, data=data, filename=name,
                                         acting_user=guardian)
    with pytest.raises(ValidationFailed) as error:
        desk.representation_decide(representation=estate, approve=True, acting_user=personas.frank, legal_name="Gwen")
    assert error.value.field == "talent_died_on"


def test_an_established_death_ends_the_living_talents_licenses(personas, guardian):
    license = make_license(personas)
    assert gate.license_refusal(license)[0] is None
    approve_representation(personas, desk.representation_request(
        talent=personas.talent, representative=guardian, kind="estate", acting_user=guardian),
        died_on=timezone.localdate() - timedelta(days=3))
    assert talent_facts(talent_id=personas.talent.id).capacity_on(timezone.localdate()) == "deceased"
    assert gate.license_refusal(license)[0] == gate.Reason.CAPACITY_CHANGED


def test_revoking_the_guardians_representation_stops_the_license_they_signed(personas, guardian):
    representation = _guardian_of_a_minor(personas, guardian)
    license = make_license(personas, signed=False, countersigned=False)
    assert policies.talent_side(license).user_id == guardian.pk
    services.license_sign(license=license, context=sign_context(license), acting_user=guardian)
    services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    assert gate.license_refusal(license)[0] is None
    # the minor can revoke their own license; the guardian can too
    assert policies.refuse_revoke(user=personas.alice, license=license) is None
    assert policies.refuse_revoke(user=guardian, license=license) is None
    desk.representation_revoke(representation=representation, reason="Custody changed.", acting_user=personas.grace)
    assert gate.license_refusal(license)[0] == gate.Reason.TALENT_SIDE_NOT_IN_FORCE
    assert policies.refuse_revoke(user=guardian, license=license) is not None


def test_a_representative_who_joins_the_licensee_can_no_longer_sign_for_the_talent(personas, guardian):
    _guardian_of_a_minor(personas, guardian)
    license = make_license(personas, signed=False, countersigned=False)
    services.license_sign(license=license, context=sign_context(license), acting_user=guardian)
    services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    services.membership_add(organization=personas.studio, user=guardian, role=Membership.Role.PRODUCER,
                            acting_user=personas.dana)
    assert gate.license_refusal(license)[0] == gate.Reason.TALENT_SIDE_NOT_IN_FORCE
    assert "member of the licensee" in policies.talent_side(license).refusal


def test_representation_evidence_is_sealed_and_seen_only_by_the_representative_and_verifiers(personas, guardian):
    verify_identity(personas, personas.talent, birth_date=_years_ago(12))
    representation = desk.representation_request(talent=personas.talent, representative=guardian, kind="guardian",
                                                 acting_user=guardian)
    name, data = evidence_files()["authority"]
    evidence = desk.representation_evidence_add(representation=representation, kind="authority", data=data,
                                                filename=name, acting_user=guardian)
    for outsider in (personas.alice, personas.dana, personas.bob):
        with pytest.raises(NotAllowed):
            desk.representation_evidence_open(evidence=evidence, acting_user=outsider)
    # The stored PDF is written anew from its pages (invariant 6): the same document, not the same bytes.
    assert pdf_text(desk.representation_evidence_open(evidence=evidence, acting_user=personas.grace)) == pdf_text(data)
    assert pdf_text(desk.representation_evidence_open(evidence=evidence, acting_user=guardian)) == pdf_text(data)
    assert AuditEvent.objects.filter(action="representation.evidence_viewed").count() == 2


def test_erasure_destroys_representation_evidence_and_scrubs_the_legal_name(
        personas, guardian, django_capture_on_commit_callbacks):
    representation = _guardian_of_a_minor(personas, guardian)
    with django_capture_on_commit_callbacks(execute=True):
        services.talent_erase(talent=personas.talent, acting_user=personas.alice)
    assert not representation.evidence.filter(deleted_at__isnull=True).exists()
    assert not IdentityVerification.objects.exclude(legal_name="").exists()


def test_the_operator_appoints_verifiers_never_from_a_studio(personas, django_user_model):
    from django.core.management import CommandError, call_command

    vic = django_user_model.objects.create_user(username="vic", password="pw-vic-verifier")
    with pytest.raises(CommandError, match="neither staff nor a verifier"):
        call_command("verifier_appoint", "vic", by="dana")
    call_command("verifier_appoint", "vic", by="frank")
    assert policies.is_verifier(vic)
    with pytest.raises(CommandError, match="cannot be a member of a studio"):
        call_command("verifier_appoint", "erin", by="frank")
    assert not policies.is_verifier(personas.erin)


def test_a_studio_member_who_asked_before_their_studio_drafted_is_never_approved(personas, guardian):
    """Harbour's staff ask to be Alice's executor first, then Harbour drafts with her: the desk
    re-checks the representative when it approves, so the request cannot be approved."""
    verify_identity(personas, personas.talent)
    services.membership_add(organization=personas.other_studio, user=guardian, role=Membership.Role.LEGAL,
                            acting_user=personas.dana)
    representation = desk.representation_request(talent=personas.talent, representative=guardian, kind="estate",
                                                 acting_user=guardian)
    for kind, (name, data) in evidence_files().items():
        desk.representation_evidence_add(representation=representation, kind=kind, data=data, filename=name,
                                         acting_user=guardian)
    today = timezone.localdate()
    services.license_draft(talent=personas.talent, licensee=personas.other_studio, acting_user=guardian,
                           project="P", role="R", use_description="A lead role in a short film: walking, close-ups.",
                           permitted_media=["video"], territories=["worldwide"], languages=["en"], starts_on=today,
                           ends_on=today + timedelta(days=30), max_renders=1, compensation_basis="flat",
                           compensation_rate="0", compensation_currency="EUR")
    events = AuditEvent.objects.count()
    with pytest.raises(NotAllowed, match="member of a studio"):
        desk.representation_decide(representation=representation, approve=True, acting_user=personas.frank,
                                   legal_name="Gwen", talent_died_on=today - timedelta(days=2))
    representation.refresh_from_db()
    assert representation.first_approved_by is None and AuditEvent.objects.count() == events
    assert talent_facts(talent_id=personas.talent.id).capacity_on(today) == "adult"
