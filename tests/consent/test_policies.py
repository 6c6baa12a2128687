"""Who may see and do what (consent/policies.py), rule by rule, with the words each
refusal says: verifiers versus studio members, four eyes, who decides for whom, who sees
evidence, who asks for a representation, who signs each side of a license, who revokes,
suspends and decides on a use, and which licenses each person sees.

Rows are written directly where that is shorter than the services (a verifier who also
sits in a studio can only come from a corrupted or migrated database, and the rules must
refuse it all the same). Fast on purpose: the mutation benchmark runs these for every
mutant of consent/policies.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from core.errors import NotAllowed
from consent import policies, services
from consent.models import (
    LikenessLicense,
    Membership,
    Organization,
    Representation,
    Talent,
)
from tests.conftest import LICENSE_TERMS, make_license, verify_identity

pytestmark = pytest.mark.django_db

ANONYMOUS = AnonymousUser()
BOTH_SIDES = "The same person cannot sign both sides of a license."


@pytest.fixture
def people(django_user_model):  # type: ignore[no-untyped-def]
    """Outsiders to the personas: a guardian, a second guardian, an agent, a new hire."""
    return {name: django_user_model.objects.create_user(username=name, password=f"pw-{name}-{name}")
            for name in ("gwen", "gus", "ada", "nia")}


def _represent(personas, user, kind: str, *, status: str = "approved", talent: Talent | None = None,  # type: ignore[no-untyped-def]
               valid_from: date | None = None, valid_until: date | None = None, died_on: date | None = None,
               decided_days_ago: int = 1) -> Representation:
    decided = status != "pending"
    return Representation.objects.create(
        talent=talent or personas.talent, representative=user, kind=kind, status=status, requested_by=user,
        first_approved_by=personas.frank if decided else None, decided_by=personas.grace if decided else None,
        decided_at=timezone.now() - timedelta(days=decided_days_ago) if decided else None,
        representative_legal_name=user.username.title(), valid_from=valid_from or timezone.localdate() - timedelta(days=30),
        valid_until=valid_until, talent_died_on=died_on, challenge_code="ABC123")


def _license(personas, *, capacity: str = "adult", **fields: object) -> LikenessLicense:  # type: ignore[no-untyped-def]
    """An unsaved license: the rules read who it is for, whom it binds and who signed."""
    return LikenessLicense(talent=personas.talent, licensee=personas.studio, capacity=capacity, **fields)


def _minor(personas) -> date:  # type: ignore[no-untyped-def]
    birth = timezone.localdate() - relativedelta(years=10)
    verify_identity(personas, personas.talent, birth_date=birth)
    return birth


# --- enforcing -------------------------------------------------------------------------------------

def test_enforce_raises_the_refusal_with_its_code():
    policies.enforce(None)
    with pytest.raises(NotAllowed) as error:
        policies.enforce("No.")
    assert (error.value.message, error.value.code) == ("No.", "not_allowed")
    with pytest.raises(NotAllowed) as error:
        policies.enforce("Verify first.", code="talent_unverified")
    assert (error.value.message, error.value.code) == ("Verify first.", "talent_unverified")


# --- roles -----------------------------------------------------------------------------------------

def test_roles_come_from_memberships(personas):
    p = personas
    assert policies.is_legal(p.dana) and policies.is_legal(p.erin)
    assert policies.is_legal(p.dana, p.studio.pk) and not policies.is_legal(p.dana, p.other_studio.pk)
    for user in (p.bob, p.charlie, p.frank, p.alice, ANONYMOUS):
        assert not policies.is_legal(user)
    assert policies.is_verifier(p.frank) and policies.is_verifier(p.grace)
    for user in (p.dana, p.bob, p.alice, ANONYMOUS):
        assert not policies.is_verifier(user)
    for user in (p.bob, p.charlie, p.dana):
        assert policies.is_studio_member(user)
    for user in (p.frank, p.alice, ANONYMOUS):
        assert not policies.is_studio_member(user)


def test_a_role_counts_only_in_the_kind_of_organisation_it_belongs_to(personas, people):
    """Rows a corrupted database could hold: a 'verifier' in a studio is no verifier, a
    'legal' at the operator is no studio's legal staff."""
    Membership.objects.create(user=people["gwen"], organization=personas.studio, role=Membership.Role.VERIFIER)
    Membership.objects.create(user=people["gus"], organization=personas.operator, role=Membership.Role.LEGAL)
    assert not policies.is_verifier(people["gwen"]) and not policies.is_studio_member(people["gwen"])
    assert not policies.is_legal(people["gus"]) and not policies.is_studio_member(people["gus"])


def test_an_auditor_is_a_studio_member_but_not_legal_staff(personas, people):
    Membership.objects.create(user=people["nia"], organization=personas.studio, role=Membership.Role.AUDITOR)
    assert policies.is_studio_member(people["nia"]) and not policies.is_legal(people["nia"])


def test_the_studios_of_a_user_by_role(personas):
    p = personas
    ids = lambda user, *roles: set(Organization.objects.filter(
        pk__in=policies.studio_organization_ids(user, *([roles] if roles else []))).values_list("name", flat=True))
    assert ids(p.bob) == {"Northlight Studios"} and ids(p.charlie) == {"Harbour Pictures"}
    assert ids(p.bob, Membership.Role.LEGAL) == set() and ids(p.dana, Membership.Role.LEGAL) == {"Northlight Studios"}
    assert ids(p.frank) == set() and ids(ANONYMOUS) == set()


def test_legal_organisations_are_listed_by_name(personas):
    Membership.objects.create(user=personas.dana, organization=personas.other_studio, role=Membership.Role.LEGAL)
    assert [o.name for o in policies.legal_organizations(personas.dana)] == ["Harbour Pictures", "Northlight Studios"]
    assert [o.name for o in policies.legal_organizations(personas.erin)] == ["Northlight Studios"]
    assert list(policies.legal_organizations(personas.bob)) == []


def test_working_with_a_talent_means_a_studio_holds_or_drafts_a_license_with_them(personas):
    p = personas
    assert not policies.works_with_talent(p.dana, p.talent)
    make_license(p, offered=False, signed=False, countersigned=False)
    for user in (p.dana, p.erin, p.bob):
        assert policies.works_with_talent(user, p.talent)
    for user in (p.charlie, p.frank, p.alice, ANONYMOUS):
        assert not policies.works_with_talent(user, p.talent)
    another_talent = Talent.objects.create(user=p.charlie, display_name="Charlie")
    assert not policies.works_with_talent(p.dana, another_talent), "a license with one talent is not with all"


# --- memberships -----------------------------------------------------------------------------------

def test_the_operator_has_only_verifiers_and_they_stay_outside_every_studio(personas, people):
    p = personas
    operator_members = "The platform operator's members are verifiers."
    assert policies.refuse_membership(user=people["nia"], organization=p.operator, role="legal") == operator_members
    assert policies.refuse_membership(user=p.bob, organization=p.operator, role="verifier") == (
        "A verifier cannot be a member of a studio.")
    assert policies.refuse_membership(user=people["nia"], organization=p.operator, role="verifier") is None


def test_a_studio_has_legal_staff_producers_and_auditors_never_a_verifier(personas, people):
    p = personas
    assert policies.refuse_membership(user=people["nia"], organization=p.studio, role="verifier") == (
        "A studio's members are legal staff, producers or auditors; verifiers belong to the platform operator.")
    assert policies.refuse_membership(user=p.frank, organization=p.studio, role="legal") == (
        "A verifier of the platform operator cannot be a member of a studio.")
    for role in ("legal", "producer", "auditor"):
        assert policies.refuse_membership(user=people["nia"], organization=p.studio, role=role) is None
    assert policies.refuse_membership(user=p.bob, organization=p.other_studio, role="producer") is None


# --- the verification desk -------------------------------------------------------------------------

def test_only_a_verifier_decides_for_the_desk(personas):
    p = personas
    for user in (p.dana, p.bob, p.alice, ANONYMOUS):
        assert policies.refuse_desk_decision(user=user, talent=p.talent, requested_by_id=p.alice.pk) == (
            "Only verifiers of the platform operator decide identity, death and representation.")
    assert policies.refuse_desk_decision(user=p.frank, talent=p.talent, requested_by_id=p.alice.pk) is None


def test_four_eyes_whoever_asked_cannot_decide(personas):
    assert policies.refuse_desk_decision(user=personas.frank, talent=personas.talent,
                                         requested_by_id=personas.frank.pk) == (
        "Four eyes: whoever asked for a decision cannot make it.")


def test_no_one_decides_on_their_own_identity_or_representation(personas, people):
    p = personas
    own = "No one decides on their own identity or representation."
    frank_as_talent = Talent.objects.create(user=p.frank, display_name="Frank")
    assert policies.refuse_desk_decision(user=p.frank, talent=frank_as_talent, requested_by_id=p.grace.pk) == own
    assert policies.refuse_desk_decision(user=p.frank, talent=p.talent, requested_by_id=people["gwen"].pk,
                                         representative_id=p.frank.pk) == own
    assert policies.refuse_desk_decision(user=p.frank, talent=p.talent, requested_by_id=people["gwen"].pk,
                                         representative_id=people["gwen"].pk) is None


def test_a_verifier_whose_studio_works_with_the_talent_cannot_decide_for_them(personas):
    p = personas
    make_license(p, offered=False, signed=False, countersigned=False)
    Membership.objects.create(user=p.frank, organization=p.studio, role=Membership.Role.LEGAL)  # a corrupted row
    assert policies.refuse_desk_decision(user=p.frank, talent=p.talent, requested_by_id=p.alice.pk) == (
        "A member of a studio that holds or drafts a license with the talent cannot decide for them.")


def test_the_second_approval_is_by_another_verifier(personas):
    assert policies.refuse_second_approval(user=personas.frank, first_approved_by_id=personas.frank.pk) == (
        "Four eyes: a second, different verifier must confirm this approval.")
    assert policies.refuse_second_approval(user=personas.grace, first_approved_by_id=personas.frank.pk) is None


def test_identity_evidence_is_seen_by_the_talent_and_the_verifiers_only(personas):
    p = personas
    for user in (p.alice, p.frank, p.grace):
        assert policies.refuse_identity_evidence_view(user=user, talent=p.talent) is None
    make_license(p, offered=False, signed=False, countersigned=False)
    Membership.objects.create(user=p.grace, organization=p.studio, role=Membership.Role.AUDITOR)  # a corrupted row
    for user in (p.grace, p.bob, p.dana, p.charlie, ANONYMOUS):
        assert policies.refuse_identity_evidence_view(user=user, talent=p.talent) == (
            "Only the talent and the platform's verifiers see identity evidence.")


def test_a_representations_evidence_is_seen_by_the_representative_and_the_verifiers_only(personas, people):
    p = personas
    representation = _represent(p, people["gwen"], "guardian", status="pending")
    for user in (people["gwen"], p.frank):
        assert policies.refuse_representation_evidence_view(user=user, representation=representation) is None
    frank_as_talent = Talent.objects.create(user=p.frank, display_name="Frank")
    own = _represent(p, people["gus"], "agent", status="pending", talent=frank_as_talent)
    refused = "Only the representative and the platform's verifiers see a representation's evidence."
    assert policies.refuse_representation_evidence_view(user=p.frank, representation=own) == refused
    make_license(p, offered=False, signed=False, countersigned=False)
    Membership.objects.create(user=p.grace, organization=p.studio, role=Membership.Role.AUDITOR)  # a corrupted row
    for user in (p.grace, p.alice, p.bob, p.charlie, ANONYMOUS):
        assert policies.refuse_representation_evidence_view(user=user, representation=representation) == refused


# --- representations -------------------------------------------------------------------------------

@pytest.mark.parametrize("asker, representative, kind, refusal", [
    ("alice", "gwen", "guardian", None),
    ("gwen", "gwen", "guardian", None),
    ("alice", "ada", "agent", None),
    ("gus", "gus", "estate", None),
    ("alice", "gwen", "cousin", "A representation is that of a guardian, an estate's executor or an agent."),
    ("alice", "alice", "guardian", "No one is their own representative."),
    ("ada", "ada", "agent", "Only the talent appoints their agent."),
    ("alice", "gus", "estate", "The executor asks for an estate's representation themself."),
    ("charlie", "gwen", "guardian", "Only the talent or the representative asks for a representation."),
    ("frank", "frank", "guardian", "A verifier of the platform operator cannot represent a talent."),
    ("bob", "bob", "guardian",
     "A representative may not be a member of a studio that holds or drafts a license with the talent."),
])
def test_who_asks_for_a_representation(personas, people, asker, representative, kind, refusal):
    make_license(personas, offered=False, signed=False, countersigned=False)
    users = {**people, **{name: getattr(personas, name) for name in ("alice", "bob", "charlie", "frank")}}
    assert policies.refuse_representation_request(user=users[asker], talent=personas.talent,
                                                  representative=users[representative], kind=kind) == refusal


def test_a_producer_of_a_studio_without_a_license_may_represent(personas):
    assert policies.refuse_representation_request(user=personas.charlie, talent=personas.talent,
                                                  representative=personas.charlie, kind="guardian") is None


def test_only_the_representative_uploads_their_evidence(personas, people):
    representation = _represent(personas, people["gwen"], "guardian", status="pending")
    assert policies.refuse_representation_evidence_add(user=people["gwen"], representation=representation) is None
    for user in (personas.alice, personas.frank):
        assert policies.refuse_representation_evidence_add(user=user, representation=representation) == (
            "Only the representative uploads the evidence of their identity and authority.")


def test_the_talent_the_representative_or_a_verifier_ends_a_representation(personas, people):
    representation = _represent(personas, people["gwen"], "guardian")
    for user in (people["gwen"], personas.alice, personas.frank):
        assert policies.refuse_representation_revoke(user=user, representation=representation) is None
    for user in (personas.dana, personas.bob, people["gus"], ANONYMOUS):
        assert policies.refuse_representation_revoke(user=user, representation=representation) == (
            "Only the talent, the representative or a verifier can end a representation.")


# --- licenses: legal staff, signatures -------------------------------------------------------------

def test_legal_actions_are_the_licensees_legal_staffs(personas):
    p = personas
    assert policies.refuse_legal_action(user=p.dana, licensee_id=p.studio.pk, action="draft its licenses") is None
    for user, licensee in ((p.dana, p.other_studio), (p.bob, p.studio), (p.frank, p.studio)):
        assert policies.refuse_legal_action(user=user, licensee_id=licensee.pk, action="lift a suspension") == (
            "Only the licensee's legal staff can lift a suspension.")


def test_an_unverified_talent_has_no_talent_side(personas):
    side = policies.talent_side(_license(personas))
    refusal = "The verification desk has not verified the talent's identity."
    assert side == policies.TalentSide(None, None, None, refusal) and side.why == refusal


def test_a_verified_adult_signs_themself(personas):
    verify_identity(personas, personas.talent)
    side = policies.talent_side(_license(personas))
    assert side == policies.TalentSide("adult", personas.alice.pk, None, None)
    assert side.why == "The talent is a verified adult and signs themself."


def test_a_license_drafted_for_another_capacity_has_no_talent_side(personas):
    _minor(personas)
    assert policies.talent_side(_license(personas, capacity="adult")) == policies.TalentSide(
        "minor", None, None, "This license was drafted for a talent who was adult, but the verified facts now make "
                             "them minor: draft a new license.")


def test_the_talent_side_is_judged_on_the_day_asked(personas):
    birth = _minor(personas)
    eighteen = birth + relativedelta(years=18)
    assert policies.talent_side(_license(personas, capacity="minor"), on=eighteen).capacity == "adult"
    assert policies.talent_side(_license(personas, capacity="minor"),
                                on=eighteen - timedelta(days=1)).capacity == "minor"


def test_a_minor_needs_a_verified_guardian_on_file(personas, people):
    _minor(personas)
    no_guardian = policies.TalentSide("minor", None, None, "No verified guardian of a minor is on file for this talent: "
                                      "they ask the verification desk to approve their representation first.")
    assert policies.talent_side(_license(personas, capacity="minor")) == no_guardian
    _represent(personas, people["gwen"], "guardian", status="pending")
    assert policies.talent_side(_license(personas, capacity="minor")) == no_guardian
    representation = _represent(personas, people["gus"], "guardian")
    side = policies.talent_side(_license(personas, capacity="minor"))
    assert side == policies.TalentSide("minor", people["gus"].pk, representation, None)
    assert side.why == "The talent is a minor: the verified guardian of a minor signs."


def test_a_guardian_who_works_for_the_licensee_cannot_sign(personas, people):
    _minor(personas)
    representation = _represent(personas, people["gwen"], "guardian")
    Membership.objects.create(user=people["gwen"], organization=personas.other_studio, role=Membership.Role.LEGAL)
    assert policies.talent_side(_license(personas, capacity="minor")).user_id == people["gwen"].pk
    Membership.objects.create(user=people["gwen"], organization=personas.studio, role=Membership.Role.PRODUCER)
    refusal = "The representative on file is a member of the licensee, so cannot sign for the talent."
    side = policies.talent_side(_license(personas, capacity="minor"))
    assert side == policies.TalentSide("minor", None, representation, refusal) and side.why == refusal


def test_the_estate_signs_for_a_deceased_talent(personas, people):
    verify_identity(personas, personas.talent)
    died_on = timezone.localdate() - timedelta(days=40)
    representation = _represent(personas, people["gus"], "estate", valid_from=died_on, died_on=died_on)
    side = policies.talent_side(_license(personas, capacity="deceased"))
    assert side == policies.TalentSide("deceased", people["gus"].pk, representation, None)
    assert side.why == "The talent is deceased: the verified executor of the estate signs."


def test_who_signs_the_talent_side(personas):
    verify_identity(personas, personas.talent)
    license = _license(personas)
    side = policies.talent_side(license)
    assert policies.refuse_talent_signature(user=personas.alice, license=license, side=side) is None
    for user in (personas.bob, personas.dana):
        assert policies.refuse_talent_signature(user=user, license=license, side=side) == (
            "Only the talent, or the representation on file for them, signs the talent side of a license.")
    refused = policies.TalentSide(None, None, None, "No.")
    assert policies.refuse_talent_signature(user=personas.alice, license=license, side=refused) == "No."
    countersigned_by_her = _license(personas, countersigned_by=personas.alice)
    assert policies.refuse_talent_signature(user=personas.alice, license=countersigned_by_her, side=side) == BOTH_SIDES


def test_who_countersigns(personas, people):
    license = _license(personas, signed_by=personas.alice)
    assert policies.refuse_countersign(user=personas.dana, license=license) is None
    Membership.objects.create(user=people["nia"], organization=personas.other_studio, role=Membership.Role.LEGAL)
    for user in (personas.bob, personas.charlie, personas.alice, people["nia"]):
        assert policies.refuse_countersign(user=user, license=license) == (
            "Only the licensee's legal staff can countersign its licenses.")
    assert policies.refuse_countersign(user=personas.dana, license=_license(personas, signed_by=personas.dana)) == (
        BOTH_SIDES)


# --- speaking for the talent: revoke, suspend, decide on a use -------------------------------------

def test_who_speaks_for_the_talent(personas, people):
    p = personas
    license = _license(p)
    assert policies.speaks_for_talent(user=p.alice, license=license)
    for user in (p.bob, p.dana, p.frank, people["ada"], ANONYMOUS):
        assert not policies.speaks_for_talent(user=user, license=license)
    _represent(p, people["ada"], "agent", status="pending")
    assert not policies.speaks_for_talent(user=people["ada"], license=license)
    _represent(p, people["ada"], "agent", valid_until=timezone.localdate() - timedelta(days=1))
    assert not policies.speaks_for_talent(user=people["ada"], license=license)
    yesterday = timezone.localdate() - timedelta(days=1)
    assert policies.speaks_for_talent(user=people["ada"], license=license, on=yesterday)
    _represent(p, people["ada"], "agent")
    assert policies.speaks_for_talent(user=people["ada"], license=license)


def test_a_guardian_who_signed_speaks_for_the_talent_while_their_representation_holds(personas, people):
    """Two guardians in force: the one who signed still speaks for the talent, though the
    other's approval is the latest on file."""
    p = personas
    _minor(p)
    signed_under = _represent(p, people["gwen"], "guardian", decided_days_ago=5)
    _represent(p, people["gus"], "guardian", decided_days_ago=1)
    license = _license(p, capacity="minor", signed_by=people["gwen"], signed_under=signed_under)
    assert policies.speaks_for_talent(user=people["gwen"], license=license)
    assert policies.speaks_for_talent(user=people["gus"], license=license)
    Representation.objects.filter(pk=signed_under.pk).update(status="revoked")
    assert not policies.speaks_for_talent(user=people["gwen"], license=license)
    unsigned = _license(p, capacity="minor", signed_by=people["gwen"])  # signed, but under no representation
    assert not policies.speaks_for_talent(user=people["gwen"], license=unsigned)


@pytest.mark.parametrize("rule, verb", [(policies.refuse_revoke, "revoke"), (policies.refuse_suspend, "suspend")])
def test_the_talent_their_representative_or_the_licensees_legal_staff_revoke_and_suspend(personas, people, rule, verb):
    p = personas
    _represent(p, people["ada"], "agent")
    license = _license(p)
    for user in (p.alice, people["ada"], p.dana, p.erin):
        assert rule(user=user, license=license) is None
    Membership.objects.create(user=people["nia"], organization=p.other_studio, role=Membership.Role.LEGAL)
    for user in (p.bob, p.charlie, p.frank, people["nia"], ANONYMOUS):
        assert rule(user=user, license=license) == (
            f"Only the talent, their representative or the licensee's legal staff can {verb} this license.")


def test_the_talent_or_their_guardian_decides_on_a_use(personas, people):
    p = personas
    refused = "Only the talent (or their verified guardian or estate) decides on a use of their likeness."
    assert policies.refuse_use_decision(user=p.alice, license=_license(p)) == refused  # not verified yet
    verify_identity(p, p.talent)
    assert policies.refuse_use_decision(user=p.alice, license=_license(p)) is None
    for user in (p.bob, p.dana):
        assert policies.refuse_use_decision(user=user, license=_license(p)) == refused
    p.talent.verifications.update(birth_date=timezone.localdate() - relativedelta(years=10))
    _represent(p, people["gwen"], "guardian")
    assert policies.refuse_use_decision(user=people["gwen"], license=_license(p, capacity="minor")) is None
    assert policies.refuse_use_decision(user=p.alice, license=_license(p, capacity="minor")) == refused


# --- which licenses each person sees ---------------------------------------------------------------

def test_licenses_are_seen_by_the_talent_their_representatives_the_signer_and_the_licensee(personas, people):
    p = personas
    license = make_license(p, offered=False, signed=False, countersigned=False)  # a draft: no one signed yet
    visible = lambda user: set(LikenessLicense.objects.filter(policies.licenses_visible_q(user)))
    for user in (p.alice, p.dana, p.bob):
        assert visible(user) == {license}
    for user in (p.charlie, p.frank, people["gwen"], people["ada"], ANONYMOUS):
        assert visible(user) == set()
    _represent(p, people["ada"], "agent")
    _represent(p, people["gwen"], "guardian", status="pending")
    assert visible(people["ada"]) == {license} and visible(people["gwen"]) == set()
    LikenessLicense.objects.filter(pk=license.pk).update(signed_by=people["gus"])
    assert visible(people["gus"]) == {license}


def test_is_licensee_legal(personas, people):
    license = make_license(personas, offered=False, signed=False, countersigned=False)
    Membership.objects.create(user=people["nia"], organization=personas.other_studio, role=Membership.Role.LEGAL)
    theirs = services.license_draft(talent=personas.talent, licensee=personas.other_studio, acting_user=people["nia"],
                                    **{**LICENSE_TERMS, "permitted_media": ["video"], "max_renders": 1,
                                       "starts_on": license.starts_on, "ends_on": license.ends_on})
    assert policies.is_licensee_legal(user=personas.dana, license_id=license.pk)
    assert policies.is_licensee_legal(user=people["nia"], license_id=theirs.pk)
    assert not policies.is_licensee_legal(user=personas.dana, license_id=theirs.pk)
    for user in (personas.bob, people["nia"], personas.alice, ANONYMOUS):
        assert not policies.is_licensee_legal(user=user, license_id=license.pk)
