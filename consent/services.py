"""Every write in consent: enrolment, verification, licenses, signatures, revocation."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.actors import user_actor
from audit.services import audit_append
from bespoke.errors import InvalidTransition, NotAllowed, ValidationFailed
from consent.content_policy import CATEGORIES
from consent.keys import talent_key_destroy
from consent.likeness import likeness_models_destroy_for_talent, likeness_models_retire
from consent.models import (
    IdentityVerification,
    LicenseRevocation,
    LicenseUse,
    LikenessLicense,
    Membership,
    Organization,
    ReferencePhoto,
    Talent,
    TalentKey,
)
from consent.photos import prepare_reference_photo
from consent.vault import vault_delete, vault_put
from consent.terms import render_license_text, text_sha256

MIN_USE_DESCRIPTION = 40


def _is_legal(user: AbstractBaseUser, organization: Organization | None = None) -> bool:
    memberships = Membership.objects.filter(user=user, role=Membership.Role.LEGAL)
    if organization is not None:
        memberships = memberships.filter(organization=organization)
    return memberships.exists()


@transaction.atomic
def organization_create(*, name: str, acting_user: AbstractBaseUser) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationFailed("An organisation needs a name.", field="name")
    if Organization.objects.filter(name=name).exists():
        raise ValidationFailed(f"An organisation named {name!r} already exists.", field="name")
    organization = Organization.objects.create(name=name)
    audit_append(action="organization.created", actor=user_actor(acting_user), subject=f"organization:{organization.id}")
    return organization


@transaction.atomic
def membership_add(*, organization: Organization, user: AbstractBaseUser, role: str,
                   acting_user: AbstractBaseUser) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    if Membership.objects.filter(organization=organization, user=user, role=role).exists():
        raise ValidationFailed("That person already has this role here.", field="role")
    membership = Membership.objects.create(organization=organization, user=user, role=role)
    audit_append(action="membership.added", actor=user_actor(acting_user), subject=f"organization:{organization.id}",
                 data={"user": user_actor(user), "role": role})
    return membership


@transaction.atomic
def talent_enrol(*, user: AbstractBaseUser, display_name: str, acting_user: AbstractBaseUser) -> Talent:
    display_name = display_name.strip()
    if not display_name:
        raise ValidationFailed("A talent needs a display name.", field="display_name")
    if Talent.objects.filter(user=user).exists():
        raise ValidationFailed("This account is already enrolled as talent.", field="user")
    talent = Talent.objects.create(user=user, display_name=display_name)
    audit_append(action="talent.enrolled", actor=user_actor(acting_user), subject=f"talent:{talent.id}",
                 data={"user": user_actor(user)})
    return talent


@transaction.atomic
def identity_verification_request(*, talent: Talent, method: str, acting_user: AbstractBaseUser) -> IdentityVerification:
    if method not in IdentityVerification.Method.values:
        raise ValidationFailed(f"Unknown verification method {method!r}.", field="method")
    if talent.verifications.filter(status=IdentityVerification.Status.PENDING).exists():
        raise InvalidTransition("A verification for this talent is already waiting for a decision.")
    verification = IdentityVerification.objects.create(talent=talent, method=method, requested_by=acting_user)
    audit_append(action="identity.verification_requested", actor=user_actor(acting_user),
                 subject=f"talent:{talent.id}", data={"verification": str(verification.id), "method": method})
    return verification


@transaction.atomic
def identity_verification_decide(*, verification: IdentityVerification, approve: bool, note: str,
                                 acting_user: AbstractBaseUser) -> IdentityVerification:
    verification = IdentityVerification.objects.select_for_update().get(pk=verification.pk)
    if verification.status != IdentityVerification.Status.PENDING:
        raise InvalidTransition(f"This verification was already {verification.status}.")
    if not _is_legal(acting_user):
        raise NotAllowed("Only legal staff can decide identity verifications.")
    if acting_user.pk == verification.requested_by_id or acting_user.pk == verification.talent.user_id:
        raise NotAllowed("Four eyes: the person who asked for a verification cannot decide it.")
    if not approve and not note.strip():
        raise ValidationFailed("Say why the verification is rejected.", field="note")
    verification.status = IdentityVerification.Status.APPROVED if approve else IdentityVerification.Status.REJECTED
    verification.decided_by = acting_user
    verification.decided_at = timezone.now()
    verification.decision_note = note.strip()
    verification.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_append(action=f"identity.verification_{verification.status}", actor=user_actor(acting_user),
                 subject=f"talent:{verification.talent_id}", data={"verification": str(verification.id)})
    return verification


@transaction.atomic
def license_draft(*, talent: Talent, licensee: Organization, use_description: str, permitted_media: list[str],
                  starts_on: date, ends_on: date, max_renders: int, excluded_categories: list[str],
                  acting_user: AbstractBaseUser, allows_likeness_model: bool = False) -> LikenessLicense:
    if not _is_legal(acting_user, licensee):
        raise NotAllowed("Only the licensee's legal staff can draft its licenses.")
    use_description = " ".join(use_description.split())
    if len(use_description) < MIN_USE_DESCRIPTION:
        raise ValidationFailed(f"Describe the use specifically (at least {MIN_USE_DESCRIPTION} characters): "
                               "the project, the role and how the likeness appears.", field="use_description")
    media = sorted(set(permitted_media))
    if not media or any(m not in LikenessLicense.Medium.values for m in media):
        raise ValidationFailed(f"Permitted media must be some of {', '.join(LikenessLicense.Medium.values)}.",
                               field="permitted_media")
    if ends_on <= starts_on:
        raise ValidationFailed("The license must end after it starts.", field="ends_on")
    if max_renders < 1:
        raise ValidationFailed("A license allows at least one render.", field="max_renders")
    excluded = sorted(set(excluded_categories))
    unknown = [c for c in excluded if c not in CATEGORIES]
    if unknown:
        raise ValidationFailed(f"Unknown content categories: {', '.join(unknown)}.", field="excluded_categories")
    text = render_license_text(talent_name=talent.display_name, licensee_name=licensee.name,
                               use_description=use_description, permitted_media=media, starts_on=starts_on,
                               ends_on=ends_on, max_renders=max_renders, excluded_categories=excluded,
                               allows_likeness_model=allows_likeness_model)
    license = LikenessLicense.objects.create(
        talent=talent, licensee=licensee, use_description=use_description, permitted_media=media,
        starts_on=starts_on, ends_on=ends_on, max_renders=max_renders, excluded_categories=excluded,
        allows_likeness_model=allows_likeness_model, text=text, text_sha256=text_sha256(text), drafted_by=acting_user,
    )
    audit_append(action="license.drafted", actor=user_actor(acting_user), subject=f"license:{license.id}",
                 data={"talent": str(talent.id), "licensee": str(licensee.id), "text_sha256": license.text_sha256})
    return license


def _locked(license: LikenessLicense) -> LikenessLicense:
    return LikenessLicense.objects.select_for_update().get(pk=license.pk)


def _record_signature(license: LikenessLicense, prefix: str, *, text_sha256_seen: str, ip_address: str | None,
                      acting_user: AbstractBaseUser, action: str) -> None:
    """Store who signed, when, from where, and the exact text hash they signed."""
    if text_sha256_seen != license.text_sha256 or text_sha256(license.text) != license.text_sha256:
        raise ValidationFailed("The license text changed since it was shown; read it again before signing.",
                               field="text_sha256")
    fields = {"at": timezone.now(), "by": acting_user, "ip": ip_address, "sha256": license.text_sha256}
    for suffix, value in fields.items():
        setattr(license, f"{prefix}_{suffix}", value)
    license.save(update_fields=[f"{prefix}_{suffix}" for suffix in fields])
    audit_append(action=action, actor=user_actor(acting_user), subject=f"license:{license.id}",
                 data={"text_sha256": license.text_sha256})


@transaction.atomic
def license_sign(*, license: LikenessLicense, text_sha256_seen: str, ip_address: str | None,
                 acting_user: AbstractBaseUser) -> LikenessLicense:
    license = _locked(license)
    if acting_user.pk != license.talent.user_id:
        raise NotAllowed("Only the talent named in a license can sign it.")
    if hasattr(license, "revocation"):
        raise InvalidTransition("This license was revoked.")
    if license.talent_signed_at:
        raise InvalidTransition("The talent already signed this license.")
    _record_signature(license, "talent_signed", text_sha256_seen=text_sha256_seen, ip_address=ip_address,
                      acting_user=acting_user, action="license.signed_by_talent")
    return license


@transaction.atomic
def license_countersign(*, license: LikenessLicense, text_sha256_seen: str, ip_address: str | None,
                        acting_user: AbstractBaseUser) -> LikenessLicense:
    license = _locked(license)
    if not _is_legal(acting_user, license.licensee):
        raise NotAllowed("Only the licensee's legal staff can countersign.")
    if hasattr(license, "revocation"):
        raise InvalidTransition("This license was revoked.")
    if not license.talent_signed_at:
        raise InvalidTransition("The talent must sign before legal countersigns.")
    if license.countersigned_at:
        raise InvalidTransition("This license is already countersigned.")
    _record_signature(license, "countersigned", text_sha256_seen=text_sha256_seen, ip_address=ip_address,
                      acting_user=acting_user, action="license.countersigned")
    return license


@transaction.atomic
def license_revoke(*, license: LikenessLicense, reason: str, acting_user: AbstractBaseUser) -> LicenseRevocation:
    """Revoke at once. Takes the license lock that publication takes (invariant 1), so the
    list of already-published outputs recorded here is exact."""
    license = _locked(license)
    if acting_user.pk != license.talent.user_id and not _is_legal(acting_user, license.licensee):
        raise NotAllowed("Only the talent or the licensee's legal staff can revoke this license.")
    if LicenseRevocation.objects.filter(license=license).exists():
        raise InvalidTransition("This license is already revoked.")
    if not reason.strip():
        raise ValidationFailed("Give a reason for the revocation.", field="reason")
    published = list(LicenseUse.objects.filter(license=license).order_by("published_at", "id")
                     .values_list("output_ref", flat=True))
    revocation = LicenseRevocation.objects.create(license=license, revoked_by=acting_user, reason=reason.strip(),
                                                  published_outputs=published)
    audit_append(action="license.revoked", actor=user_actor(acting_user), subject=f"license:{license.id}",
                 data={"published_outputs": published})
    likeness_models_retire(talent_id=license.talent_id, licensee_id=license.licensee_id, reason="license_revoked",
                           actor=user_actor(acting_user))
    return revocation


def reference_photo_add(*, talent: Talent, data: bytes, filename: str, acting_user: AbstractBaseUser) -> ReferencePhoto:
    """Check, re-encode and store one reference photo, sealed under the talent's key."""
    if acting_user.pk != talent.user_id:
        raise NotAllowed("Only the talent can add their reference photos.")
    if TalentKey.objects.filter(talent=talent, destroyed_at__isnull=False).exists():
        raise InvalidTransition("This talent's data was erased.")
    prepared = prepare_reference_photo(
        data, filename=filename, resolution=settings.BESPOKE_TRAINING_RESOLUTION, max_bytes=settings.BESPOKE_PHOTO_MAX_BYTES,
        max_pixels=settings.BESPOKE_PHOTO_MAX_PIXELS, min_side=settings.BESPOKE_PHOTO_MIN_SIDE)
    photo = ReferencePhoto(talent=talent, width=prepared.width, height=prepared.height, uploaded_by=acting_user)
    stored = ""
    try:
        with transaction.atomic():
            stored = vault_put(talent_id=talent.id, object_ref=photo.object_ref, plaintext=prepared.png,
                               name=f"likeness/{talent.id}/photos/{photo.id}.sealed")
            photo.stored_name = stored
            photo.save()
            audit_append(action="likeness.photo_added", actor=user_actor(acting_user), subject=f"talent:{talent.id}",
                         data={"photo": str(photo.id)})
    except BaseException:
        vault_delete(stored)
        raise
    return photo


@transaction.atomic
def talent_erase(*, talent: Talent, acting_user: AbstractBaseUser) -> dict[str, list[str]]:
    """Erase a talent's likeness data: revoke every license, destroy likeness models,
    delete the sealed photos and destroy the data key (crypto-shredding). The minimal
    consent record (licenses, signatures, revocations) stays, as the law allows."""
    talent = Talent.objects.select_for_update().get(pk=talent.pk)
    if acting_user.pk != talent.user_id:
        raise NotAllowed("Only the talent can erase their data.")
    actor = user_actor(acting_user)
    revoked = []
    for license in LikenessLicense.objects.filter(talent=talent, revocation__isnull=True):
        license_revoke(license=license, reason="Erasure requested by the talent.", acting_user=acting_user)
        revoked.append(str(license.id))
    destroyed = likeness_models_destroy_for_talent(talent_id=talent.id, reason="erasure", actor=actor)
    photos = list(ReferencePhoto.objects.filter(talent=talent, deleted_at__isnull=True))
    for photo in photos:
        stored = photo.stored_name
        transaction.on_commit(lambda name=stored: vault_delete(name))
    ReferencePhoto.objects.filter(pk__in=[p.pk for p in photos]).update(deleted_at=timezone.now(), stored_name="")
    talent_key_destroy(talent_id=talent.id)
    talent.display_name = "Erased talent"
    talent.save(update_fields=["display_name"])
    audit_append(action="talent.erased", actor=actor, subject=f"talent:{talent.id}",
                 data={"revoked_licenses": revoked, "destroyed_models": destroyed, "deleted_photos": len(photos)})
    return {"revoked_licenses": revoked, "destroyed_models": destroyed}
