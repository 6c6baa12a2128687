"""Reads in consent, already scoped to what the caller may see (anything else is a 404)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404

from core.errors import ValidationFailed

from consent import policies
from consent.lifecycle import TRANSITIONS
from consent.models import (
    IdentityEvidence,
    IdentityVerification,
    LikenessLicense,
    LikenessModel,
    ReferencePhoto,
    Representation,
    RepresentationEvidence,
    Talent,
    TalentKey,
)

User = AbstractBaseUser | AnonymousUser


def licenses_for_user(*, user: User) -> QuerySet[LikenessLicense]:
    """The talent, whoever represents them, and every member of the licensee."""
    if not user.is_authenticated:
        return LikenessLicense.objects.none()
    return (LikenessLicense.objects.filter(policies.licenses_visible_q(user))
            .select_related("talent", "licensee", "signed_under").prefetch_related("signatures")
            .order_by("-created_at"))


def license_get_for_user(*, user: User, license_id: object) -> LikenessLicense:
    try:
        return licenses_for_user(user=user).get(pk=license_id)
    except (LikenessLicense.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such license.") from None


def license_ids_for_user(*, user: User) -> QuerySet:
    return licenses_for_user(user=user).values("id")


def licensee_ids_of_licenses(*, license_ids: list[str]) -> dict[str, str]:
    """The licensee (organisation id) of each of these licenses that exists, by license id
    in its canonical form (``str(uuid)``); the ids must be valid UUIDs."""
    return {str(license_id): str(licensee_id) for license_id, licensee_id
            in LikenessLicense.objects.filter(pk__in=license_ids).values_list("id", "licensee_id")}


def talents_for_user(*, user: User) -> QuerySet[Talent]:
    """A talent sees themself and a representative the talent they represent; legal staff
    see every talent by name (to draft a license for them), never their identity data;
    producers and auditors see the talents their studio holds licenses from."""
    if not user.is_authenticated:
        return Talent.objects.none()
    if policies.is_legal(user):
        return Talent.objects.all().order_by("created_at")
    # a UNION of indexed lookups (the studios, few, read first), where an OR across the join
    # to licenses would make PostgreSQL scan every license
    studios = list(policies.studio_organization_ids(user).values_list("organization_id", flat=True))
    visible = (Talent.objects.filter(user_id=user.pk).order_by().values_list("pk", flat=True).union(
        Representation.objects.filter(representative_id=user.pk, status=Representation.Status.APPROVED)
        .order_by().values_list("talent_id", flat=True),
        LikenessLicense.objects.filter(licensee_id__in=studios).order_by().values_list("talent_id", flat=True)))
    return Talent.objects.filter(pk__in=visible).order_by("created_at")


def talent_get_for_user(*, user: User, talent_id: object) -> Talent:
    try:
        return talents_for_user(user=user).get(pk=talent_id)
    except (Talent.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such talent.") from None


def verifications_for_user(*, user: User) -> QuerySet[IdentityVerification]:
    """The talent's own; every one for the platform's verifiers; none for a studio."""
    if not user.is_authenticated:
        return IdentityVerification.objects.none()
    verifications = IdentityVerification.objects.select_related("talent").order_by("-requested_at")
    return verifications if policies.is_verifier(user) else verifications.filter(talent__user=user)


def representations_for_user(*, user: User) -> QuerySet[Representation]:
    """The talent's and the representative's own; every one for the platform's verifiers."""
    if not user.is_authenticated:
        return Representation.objects.none()
    representations = Representation.objects.select_related("talent", "representative").order_by("-requested_at")
    if policies.is_verifier(user):
        return representations
    return representations.filter(Q(talent__user=user) | Q(representative=user))


def representation_get_for_user(*, user: User, representation_id: object) -> Representation:
    try:
        return representations_for_user(user=user).get(pk=representation_id)
    except (Representation.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such representation.") from None


def representation_evidence_get(*, representation: Representation, evidence_id: object) -> RepresentationEvidence:
    try:
        return representation.evidence.get(pk=evidence_id, deleted_at__isnull=True)
    except (RepresentationEvidence.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such evidence.") from None


@dataclass(frozen=True)
class DeskQueue:
    verifications: list[IdentityVerification]
    representations: list[Representation]


def desk_queue(*, user: User) -> DeskQueue:
    """What waits for the verification desk: empty for anyone but a verifier."""
    if not policies.is_verifier(user):
        return DeskQueue([], [])
    pending = {"status": "pending"}
    return DeskQueue(
        list(IdentityVerification.objects.filter(**pending).select_related("talent").order_by("requested_at")),
        list(Representation.objects.filter(**pending).select_related("talent", "representative")
             .order_by("requested_at")))


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


@dataclass(frozen=True)
class RepresentationParties:
    talent: Talent
    representative: AbstractBaseUser


def representation_parties(*, user: User, talent_username: str, representative_username: str) -> RepresentationParties:
    """The talent and the representative a request names by username; the caller is either
    one, so an empty name means the caller."""
    from django.contrib.auth import get_user_model

    talent_username, representative_username = talent_username.strip(), representative_username.strip()
    talent = Talent.objects.filter(user__username=talent_username).first() if talent_username else \
        Talent.objects.filter(user_id=user.pk).first()
    if talent is None:
        raise ValidationFailed("No talent has that username." if talent_username else "Name the talent to represent.",
                               field="talent_username")
    representative = get_user_model().objects.filter(username=representative_username).first() \
        if representative_username else user
    if representative is None or not representative.is_active:
        raise ValidationFailed("There is no account with that username.", field="representative_username")
    return RepresentationParties(talent, representative)
