"""Who may see and do what: the one place that decides.

Services enforce these rules (``enforce`` raises ``NotAllowed`` naming the rule); views,
serializers and selectors only consult them. Every ``refuse_*`` rule answers None when
the action is allowed and otherwise the refusal in plain words.

The parties: a talent; their representative (a guardian, an estate's executor or an
agent, bound to the talent by a representation two verifiers approved); the verifiers
of the platform operator, outside every studio; a studio's legal staff, producers and
auditors. The licensee never vouches for the facts its license rests on (identity,
age, death, representation): verifiers establish them, and the party that profits from
a license never signs its talent side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.errors import ApplicationError, InvalidTransition, NotAllowed
from consent.lifecycle import next_status
from consent.facts import SIGNING_REPRESENTATION, representation_holds, representation_in_force, talent_facts
from consent.models import LikenessLicense, Membership, Organization, Representation, Talent

User = AbstractBaseUser | AnonymousUser

STUDIO_ROLES = Membership.STUDIO_ROLES


def enforce(refusal: str | None, *, code: str = "not_allowed") -> None:
    if refusal is not None:
        raise NotAllowed(refusal, code=code)


# --- roles ----------------------------------------------------------------------------------

def _memberships(user: User, roles: tuple[str, ...], kind: str) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user_id=user.pk, role__in=roles, organization__kind=kind)


def studio_organization_ids(user: User, roles: tuple[str, ...] = STUDIO_ROLES) -> QuerySet:
    """The studios where the user holds one of these roles (a subquery of ids)."""
    return _memberships(user, roles, Organization.Kind.STUDIO).values("organization_id")


def legal_organizations(user: User) -> QuerySet[Organization]:
    return Organization.objects.filter(pk__in=studio_organization_ids(user, (Membership.Role.LEGAL,))).order_by("name")


def legal_memberships(user: User) -> QuerySet[Membership]:
    """The user's memberships as legal staff of a studio."""
    return _memberships(user, (Membership.Role.LEGAL,), Organization.Kind.STUDIO)


def verifier_memberships(user: User) -> QuerySet[Membership]:
    """The user's memberships as a verifier of the platform's operator."""
    return _memberships(user, (Membership.Role.VERIFIER,), Organization.Kind.OPERATOR)


def is_legal(user: User, organization_id: object | None = None) -> bool:
    """Legal staff of a studio (of this one, when given)."""
    memberships = legal_memberships(user)
    if organization_id is not None:
        memberships = memberships.filter(organization_id=organization_id)
    return memberships.exists()


def is_verifier(user: User) -> bool:
    return verifier_memberships(user).exists()


def is_studio_member(user: User) -> bool:
    return _memberships(user, STUDIO_ROLES, Organization.Kind.STUDIO).exists()


def works_with_talent(user: User, talent: Talent) -> bool:
    """A member of a studio that holds or drafts a license with the talent (any state)."""
    return LikenessLicense.objects.filter(talent_id=talent.pk,
                                          licensee_id__in=studio_organization_ids(user)).exists()


def refuse_membership(*, user: AbstractBaseUser, organization: Organization, role: str) -> str | None:
    if organization.kind == Organization.Kind.OPERATOR:
        if role != Membership.Role.VERIFIER:
            return "The platform operator's members are verifiers."
        if is_studio_member(user):
            return "A verifier cannot be a member of a studio."
        return None
    if role not in STUDIO_ROLES:
        return "A studio's members are legal staff, producers or auditors; verifiers belong to the platform operator."
    if is_verifier(user):
        return "A verifier of the platform operator cannot be a member of a studio."
    return None


# --- the verification desk ------------------------------------------------------------------

def refuse_desk_decision(*, user: User, talent: Talent, requested_by_id: object,
                         representative_id: object | None = None) -> str | None:
    """Who may decide an identity verification or a representation (either approval, or a rejection)."""
    if not is_verifier(user):
        return "Only verifiers of the platform operator decide identity, death and representation."
    if user.pk == requested_by_id:
        return "Four eyes: whoever asked for a decision cannot make it."
    if user.pk in (talent.user_id, representative_id):
        return "No one decides on their own identity or representation."
    if works_with_talent(user, talent):
        return "A member of a studio that holds or drafts a license with the talent cannot decide for them."
    return None


def refuse_second_approval(*, user: User, first_approved_by_id: object) -> str | None:
    if user.pk == first_approved_by_id:
        return "Four eyes: a second, different verifier must confirm this approval."
    return None


def refuse_identity_evidence_view(*, user: User, talent: Talent) -> str | None:
    """The talent reads their own evidence; verifiers read it to decide; nobody else does."""
    if user.is_authenticated and user.pk == talent.user_id:
        return None
    if is_verifier(user) and not works_with_talent(user, talent):
        return None
    return "Only the talent and the platform's verifiers see identity evidence."


def refuse_representation_evidence_view(*, user: User, representation: Representation) -> str | None:
    if user.is_authenticated and user.pk == representation.representative_id:
        return None
    if is_verifier(user) and user.pk != representation.talent.user_id \
            and not works_with_talent(user, representation.talent):
        return None
    return "Only the representative and the platform's verifiers see a representation's evidence."


# --- representations ------------------------------------------------------------------------

def refuse_representation_request(*, user: User, talent: Talent, representative: AbstractBaseUser,
                                  kind: str) -> str | None:
    if kind not in Representation.Kind.values:
        return "A representation is that of a guardian, an estate's executor or an agent."
    if representative.pk == talent.user_id:
        return "No one is their own representative."
    if kind == Representation.Kind.AGENT and user.pk != talent.user_id:
        return "Only the talent appoints their agent."
    if kind == Representation.Kind.ESTATE and user.pk != representative.pk:
        return "The executor asks for an estate's representation themself."
    if user.pk not in (talent.user_id, representative.pk):
        return "Only the talent or the representative asks for a representation."
    return refuse_representative(representative=representative, talent=talent)


def refuse_representative(*, representative: AbstractBaseUser, talent: Talent) -> str | None:
    """Who can never represent this talent: a verifier, or a member of a studio working with them
    (asked when the representation is requested and again when the desk approves it)."""
    if is_verifier(representative):
        return "A verifier of the platform operator cannot represent a talent."
    if works_with_talent(representative, talent):
        return "A representative may not be a member of a studio that holds or drafts a license with the talent."
    return None


def refuse_representation_evidence_add(*, user: User, representation: Representation) -> str | None:
    if user.pk != representation.representative_id:
        return "Only the representative uploads the evidence of their identity and authority."
    return None


def refuse_representation_revoke(*, user: User, representation: Representation) -> str | None:
    if user.pk in (representation.representative_id, representation.talent.user_id) or is_verifier(user):
        return None
    return "Only the talent, the representative or a verifier can end a representation."


# --- licenses -------------------------------------------------------------------------------

def refuse_legal_action(*, user: User, licensee_id: object, action: str) -> str | None:
    """Drafting, offering, amending, countersigning and resuming are the licensee's legal staff's."""
    if not is_legal(user, licensee_id):
        return f"Only the licensee's legal staff can {action}."
    return None


@dataclass(frozen=True)
class TalentSide:
    """Who signs and decides for the talent under a license today, and why; or why no one can."""

    capacity: str | None
    user_id: object | None
    representation: Representation | None
    refusal: str | None

    @property
    def why(self) -> str:
        if self.refusal:
            return self.refusal
        if self.representation is not None:
            return (f"The talent is {'a minor' if self.capacity == LikenessLicense.Capacity.MINOR else 'deceased'}: "
                    f"the verified {self.representation.get_kind_display().lower()} signs.")
        return "The talent is a verified adult and signs themself."


def talent_signer(talent: Talent, *, on: date | None = None) -> TalentSide:
    """Who signs for this talent, whatever the license: the talent if a living adult,
    otherwise the representation in force for the capacity the verified facts establish."""
    on = on or timezone.localdate()
    if talent.kind == Talent.Kind.VIEWER:  # an adult by their declaration, checked by the face check (consent.viewers)
        return TalentSide(LikenessLicense.Capacity.ADULT, talent.user_id, None, None)
    capacity = talent_facts(talent_id=talent.pk).capacity_on(on)
    if capacity is None:
        return TalentSide(None, None, None, "The verification desk has not verified the talent's identity.")
    kind = SIGNING_REPRESENTATION.get(capacity)
    if kind is None:
        return TalentSide(capacity, talent.user_id, None, None)
    representation = representation_in_force(talent_id=talent.pk, kind=kind, on=on)
    if representation is None:
        label = Representation.Kind(kind).label.lower()
        return TalentSide(capacity, None, None,
                          f"No verified {label} is on file for this talent: they ask the verification desk to "
                          "approve their representation first.")
    return TalentSide(capacity, representation.representative_id, representation, None)


def talent_side(license: LikenessLicense, *, on: date | None = None,
                signers: dict[object, TalentSide] | None = None) -> TalentSide:
    """The talent side of this license: its signer, as long as the license's capacity is
    still what the facts establish and the representative is no member of the licensee.

    `signers` keeps who signs for each talent (by talent id) across the licenses of one
    list, so a page of licenses asks once per talent rather than once per license."""
    if signers is None:
        side = talent_signer(license.talent, on=on)
    else:
        side = signers.get(license.talent_id) or signers.setdefault(license.talent_id,
                                                                    talent_signer(license.talent, on=on))
    if side.capacity is not None and side.capacity != license.capacity:
        return TalentSide(side.capacity, None, None,
                          f"This license was drafted for a talent who was {license.capacity}, but the verified "
                          f"facts now make them {side.capacity}: draft a new license.")
    if side.representation is not None and Membership.objects.filter(
            user_id=side.representation.representative_id, organization_id=license.licensee_id).exists():
        return TalentSide(side.capacity, None, side.representation,
                          "The representative on file is a member of the licensee, so cannot sign for the talent.")
    return side


def refuse_talent_signature(*, user: User, license: LikenessLicense, side: TalentSide) -> str | None:
    if side.refusal is not None:
        return side.refusal
    if user.pk != side.user_id:
        return "Only the talent, or the representation on file for them, signs the talent side of a license."
    if user.pk == license.countersigned_by_id:
        return "The same person cannot sign both sides of a license."
    return None


def refuse_countersign(*, user: User, license: LikenessLicense) -> str | None:
    refusal = refuse_legal_action(user=user, licensee_id=license.licensee_id, action="countersign its licenses")
    if refusal is not None:
        return refusal
    if user.pk == license.signed_by_id:
        return "The same person cannot sign both sides of a license."
    if license.kind == LikenessLicense.Kind.VIEWER:
        return "A viewer's consent is signed by the viewer alone; the published story is the studio's offer."
    return None


def speaks_for_talent(*, user: User, license: LikenessLicense, on: date | None = None) -> bool:
    """The talent themself, whoever signed their side under a representation that still
    holds, or their representative in force (a guardian, an estate, an agent)."""
    if not user.is_authenticated:
        return False
    on = on or timezone.localdate()
    if user.pk == license.talent.user_id:
        return True
    if license.signed_under_id is not None and user.pk == license.signed_by_id \
            and representation_holds(license.signed_under, on=on):
        return True
    return any(getattr(representation_in_force(talent_id=license.talent_id, kind=kind, on=on), "representative_id",
                       None) == user.pk for kind in Representation.Kind.values)


def refuse_revoke(*, user: User, license: LikenessLicense) -> str | None:
    if speaks_for_talent(user=user, license=license) or is_legal(user, license.licensee_id):
        return None
    return "Only the talent, their representative or the licensee's legal staff can revoke this license."


def refuse_license_revoke(*, user: User, license: LikenessLicense) -> ApplicationError | None:
    """Whether this user may revoke this license now, as the error `services.license_revoke`
    would raise: who may (`refuse_revoke`, NotAllowed) first, then whether its state still
    allows it (InvalidTransition). The portal offers revocation only without one; the API
    raises it before asking for a step-up code, so a refused revocation spends none."""
    refusal = refuse_revoke(user=user, license=license)
    if refusal is not None:
        return NotAllowed(refusal)
    try:
        next_status(license, "revoke")
    except InvalidTransition as not_revocable:
        return not_revocable
    return None


def refuse_suspend(*, user: User, license: LikenessLicense) -> str | None:
    if speaks_for_talent(user=user, license=license) or is_legal(user, license.licensee_id):
        return None
    return "Only the talent, their representative or the licensee's legal staff can suspend this license."


def refuse_use_decision(*, user: User, license: LikenessLicense) -> str | None:
    side = talent_side(license)
    if side.refusal is None and user.pk == side.user_id:
        return None
    return "Only the talent (or their verified guardian or estate) decides on a use of their likeness."


def may_see_signature_network_evidence(*, user: User, license: LikenessLicense, signer_id: object) -> bool:
    """The IP address and user agent a signature was made from: the signer, the talent side
    (the talent and their representatives) and the licensee's legal staff and auditors;
    never its producers."""
    if not user.is_authenticated:
        return False
    return (user.pk == signer_id or speaks_for_talent(user=user, license=license)
            or _memberships(user, (Membership.Role.LEGAL, Membership.Role.AUDITOR), Organization.Kind.STUDIO)
            .filter(organization_id=license.licensee_id).exists())


def licenses_visible_q(user: User) -> Q:
    """The talent and their representatives, whoever signed the talent side, and every
    member of the licensee.

    The user's talents and studios are few, so they are read first (two queries) and the
    condition names them as literal ids: each branch is then an index lookup on licenses
    (talent, signer, licensee), where subqueries OR-ed together make PostgreSQL scan
    every license.
    """
    if not user.is_authenticated:
        return Q(pk__in=[])
    talent_ids = list(Talent.objects.filter(user_id=user.pk).values_list("pk", flat=True).union(
        Representation.objects.filter(representative_id=user.pk, status=Representation.Status.APPROVED)
        .values_list("talent_id", flat=True)))
    organization_ids = list(studio_organization_ids(user).values_list("organization_id", flat=True))
    return Q(talent_id__in=talent_ids) | Q(signed_by_id=user.pk) | Q(licensee_id__in=organization_ids)


def is_licensee_legal(*, user: User, license_id: object) -> bool:
    return LikenessLicense.objects.filter(
        pk=license_id, licensee_id__in=studio_organization_ids(user, (Membership.Role.LEGAL,))).exists()
