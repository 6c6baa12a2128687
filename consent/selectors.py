"""Reads in consent, already scoped to what the caller may see (anything else is a 404)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404

from consent.lifecycle import TRANSITIONS
from consent.models import (
    IdentityEvidence,
    IdentityVerification,
    LikenessLicense,
    LikenessModel,
    Membership,
    ReferencePhoto,
    Talent,
    TalentKey,
)

User = AbstractBaseUser | AnonymousUser


def _org_ids(user: User, roles: tuple[str, ...] | None = None) -> QuerySet:
    memberships = Membership.objects.filter(user=user)
    if roles:
        memberships = memberships.filter(role__in=roles)
    return memberships.values("organization_id")


def is_legal(user: User) -> bool:
    return user.is_authenticated and Membership.objects.filter(user=user, role=Membership.Role.LEGAL).exists()


def is_licensee_legal(*, user: User, license_id: object) -> bool:
    return user.is_authenticated and LikenessLicense.objects.filter(
        pk=license_id, licensee__memberships__user=user, licensee__memberships__role=Membership.Role.LEGAL).exists()


def licenses_for_user(*, user: User) -> QuerySet[LikenessLicense]:
    """The talent (or their guardian or estate) and every member of the licensee."""
    if not user.is_authenticated:
        return LikenessLicense.objects.none()
    return (LikenessLicense.objects
            .filter(Q(talent__user=user) | Q(representative=user) | Q(licensee_id__in=_org_ids(user)))
            .select_related("talent", "licensee").prefetch_related("signatures").distinct().order_by("-created_at"))


def license_get_for_user(*, user: User, license_id: object) -> LikenessLicense:
    try:
        return licenses_for_user(user=user).get(pk=license_id)
    except (LikenessLicense.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such license.") from None


def license_ids_for_user(*, user: User) -> QuerySet:
    return licenses_for_user(user=user).values("id")


def talents_for_user(*, user: User) -> QuerySet[Talent]:
    """A talent sees themself; legal staff see every talent by name (to draft a license for
    them), but identity data only as ``verifications_for_user`` allows; producers and
    auditors see the talent their studio holds licenses from."""
    if not user.is_authenticated:
        return Talent.objects.none()
    if is_legal(user):
        return Talent.objects.all().order_by("created_at")
    return (Talent.objects.filter(Q(user=user) | Q(licenses__licensee_id__in=_org_ids(user)))
            .distinct().order_by("created_at"))


def talent_get_for_user(*, user: User, talent_id: object) -> Talent:
    try:
        return talents_for_user(user=user).get(pk=talent_id)
    except (Talent.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such talent.") from None


def _identity_scope(user: User, prefix: str = "") -> Q:
    """Whose identity data this user's legal roles reach: talents their organisations invited
    or hold a license with."""
    legal_orgs = _org_ids(user, (Membership.Role.LEGAL,))
    return Q(**{f"{prefix}invited_by_id__in": legal_orgs}) | Q(**{f"{prefix}licenses__licensee_id__in": legal_orgs})


def may_see_identity(*, user: User, talent_id: object) -> bool:
    return user.is_authenticated and Talent.objects.filter(_identity_scope(user), pk=talent_id).exists()


def verifications_for_user(*, user: User) -> QuerySet[IdentityVerification]:
    """The talent's own; for legal staff, those of the talents their organisations work with."""
    if not user.is_authenticated:
        return IdentityVerification.objects.none()
    own = Q(talent__user=user)
    scope = own | _identity_scope(user, "talent__") if is_legal(user) else own
    return (IdentityVerification.objects.filter(pk__in=IdentityVerification.objects.filter(scope).values("pk"))
            .order_by("-requested_at"))


def verification_get_for_user(*, user: User, verification_id: object) -> IdentityVerification:
    try:
        return verifications_for_user(user=user).get(pk=verification_id)
    except (IdentityVerification.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such verification.") from None


def evidence_get(*, verification: IdentityVerification, evidence_id: object) -> IdentityEvidence:
    try:
        return verification.evidence.get(pk=evidence_id, deleted_at__isnull=True)
    except (IdentityEvidence.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such evidence.") from None


def reference_photos_of_talent(*, talent: Talent) -> QuerySet[ReferencePhoto]:
    """The talent's reference photos still held (sealed), newest first."""
    return ReferencePhoto.objects.filter(talent=talent, deleted_at__isnull=True).order_by("-created_at")


def licenses_revoked_on_erasure(*, talent: Talent) -> QuerySet[LikenessLicense]:
    """The talent's licenses that erasing their data revokes: every one still revocable."""
    return (LikenessLicense.objects.filter(talent=talent, status__in=TRANSITIONS["revoke"][0])
            .select_related("licensee").order_by("created_at"))


def active_likeness_models_of_talent(*, talent: Talent) -> QuerySet[LikenessModel]:
    return LikenessModel.objects.filter(talent=talent, status=LikenessModel.Status.ACTIVE)


def identity_evidence_of_talent(*, talent: Talent) -> QuerySet[IdentityEvidence]:
    """The identity evidence files the talent uploaded and that are still held (sealed)."""
    return IdentityEvidence.objects.filter(verification__talent=talent, deleted_at__isnull=True)


def talent_erased_at(*, talent: Talent) -> datetime | None:
    """When the talent's data key was destroyed (their data erased), or None."""
    return (TalentKey.objects.filter(talent=talent, destroyed_at__isnull=False)
            .values_list("destroyed_at", flat=True).first())
