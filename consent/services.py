"""Every write in consent: enrolment, verification, licenses, signatures, revocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.actors import user_actor
from audit.services import audit_append
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.locking import Rank, claim, lock_rows
from consent.keys import talent_key_destroy
from consent.lifecycle import TRANSITIONS, next_status
from consent.likeness import likeness_models_destroy_for_talent, likeness_models_retire
from consent.models import (
    FaceCheck,
    IdentityEvidence,
    IdentityVerification,
    LicenseRevocation,
    LicenseSuspension,
    LicenseUse,
    LikenessLicense,
    Membership,
    Organization,
    ReferencePhoto,
    Representation,
    RepresentationEvidence,
    SignatureEvent,
    Talent,
    TalentKey,
)
from consent import policies
from consent.facts import talent_facts
from consent.selectors import licenses_revoked_on_erasure
from consent.uploads import prepare_reference_photo
from consent.signals import license_revoked, talent_erased
from consent.vault import vault_delete, vault_put
from consent.terms import DISCLOSURE_VERSION, LicenseTerms, render_license_text, text_sha256
from consent.license_templates import license_templates_install_built_in
from consent.license_terms import LICENSE_FIELDS, terms_clean



@transaction.atomic
def organization_create(*, name: str, acting_user: AbstractBaseUser,
                        kind: str = Organization.Kind.STUDIO) -> Organization:
    """A studio (with the built-in license templates), or the platform operator."""
    name = name.strip()
    if not name:
        raise ValidationFailed("An organisation needs a name.", field="name")
    if kind not in Organization.Kind.values:
        raise ValidationFailed("An organisation is a studio or the platform operator.", field="kind")
    if Organization.objects.filter(name=name).exists():
        raise ValidationFailed(f"An organisation named {name!r} already exists.", field="name")
    organization = Organization.objects.create(name=name, kind=kind)
    audit_append(action="organization.created", actor=user_actor(acting_user), subject=f"organization:{organization.id}",
                 data={"kind": kind})
    if kind == Organization.Kind.STUDIO:
        license_templates_install_built_in(organization=organization, acting_user=acting_user)
    return organization


@transaction.atomic
def membership_add(*, organization: Organization, user: AbstractBaseUser, role: str,
                   acting_user: AbstractBaseUser) -> Membership:
    """Give a user a role: legal, producer or auditor at a studio, or verifier at the operator.
    A verifier is never also a member of a studio."""
    if role not in Membership.Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    policies.enforce(policies.refuse_membership(user=user, organization=organization, role=role))
    if Membership.objects.filter(organization=organization, user=user, role=role).exists():
        raise ValidationFailed("That person already has this role here.", field="role")
    membership = Membership.objects.create(organization=organization, user=user, role=role)
    audit_append(action="membership.added", actor=user_actor(acting_user), subject=f"organization:{organization.id}",
                 data={"user": user_actor(user), "role": role})
    return membership


@transaction.atomic
def talent_enrol(*, user: AbstractBaseUser, display_name: str, acting_user: AbstractBaseUser,
                 invited_by: Organization | None = None) -> Talent:
    """Enrol an account as talent; ``invited_by`` is the organisation whose legal staff verify them."""
    display_name = display_name.strip()
    if not display_name:
        raise ValidationFailed("A talent needs a display name.", field="display_name")
    if Talent.objects.filter(user=user).exists():
        raise ValidationFailed("This account is already enrolled as talent.", field="user")
    talent = Talent.objects.create(user=user, display_name=display_name, invited_by=invited_by)
    audit_append(action="talent.enrolled", actor=user_actor(acting_user), subject=f"talent:{talent.id}",
                 data={"user": user_actor(user), "invited_by": str(invited_by.id) if invited_by else None})
    return talent


def _create_license(*, talent: Talent, licensee: Organization, terms: dict[str, Any], version: int,
                    previous: LikenessLicense | None, acting_user: AbstractBaseUser) -> LikenessLicense:
    facts = talent_facts(talent_id=talent.pk)
    capacity = facts.capacity_on(timezone.localdate())
    if capacity is None:
        raise InvalidTransition("Draft a license once the platform's verification desk has verified the talent's "
                                "identity: their age and capacity come from it.", code="talent_unverified")
    terms = terms_clean(terms, capacity=capacity, birth_date=facts.birth_date)
    text = render_license_text(LicenseTerms(
        talent_name=talent.display_name, licensee_name=licensee.name, version=version, capacity=capacity,
        **{k: v for k, v in terms.items() if k in LicenseTerms.__dataclass_fields__}))
    license = LikenessLicense.objects.create(talent=talent, licensee=licensee, version=version, previous=previous,
                                             text=text, text_sha256=text_sha256(text), drafted_by=acting_user,
                                             capacity=capacity, talent_birth_date=facts.birth_date, **terms)
    audit_append(action="license.drafted", actor=user_actor(acting_user), subject=f"license:{license.id}",
                 data={"talent": str(talent.id), "licensee": str(licensee.id), "version": version, "capacity": capacity,
                       "previous": str(previous.id) if previous else None, "text_sha256": license.text_sha256})
    return license


@transaction.atomic
def license_draft(*, talent: Talent, licensee: Organization, acting_user: AbstractBaseUser, **terms: Any) -> LikenessLicense:
    """Draft a license from its structured terms (see LICENSE_FIELDS); only the licensee's legal staff draft.
    The talent's capacity comes from the verification desk's facts."""
    policies.enforce(policies.refuse_legal_action(user=acting_user, licensee_id=licensee.pk, action="draft its licenses"))
    return _create_license(talent=talent, licensee=licensee, terms=terms, version=1, previous=None, acting_user=acting_user)


@transaction.atomic
def license_amend(*, license: LikenessLicense, changes: dict[str, Any], acting_user: AbstractBaseUser) -> LikenessLicense:
    """Draft the next version; it supersedes this one when it is countersigned."""
    license = _locked(license)
    policies.enforce(policies.refuse_legal_action(user=acting_user, licensee_id=license.licensee_id,
                                                  action="amend its licenses"))
    next_status(license, "amend")
    if LikenessLicense.objects.filter(previous=license).exists():
        raise InvalidTransition("An amendment of this license is already in progress.")
    terms = {name: getattr(license, name) for name in LICENSE_FIELDS}
    terms.update(changes)
    return _create_license(talent=license.talent, licensee=license.licensee, terms=terms, version=license.version + 1,
                           previous=license, acting_user=acting_user)


def _locked(license: LikenessLicense) -> LikenessLicense:
    """Lock the row and refresh the caller's instance in place, so it sees what was decided."""
    claim(Rank.LICENSE, rows=[license.pk])
    license.refresh_from_db(from_queryset=LikenessLicense.objects.select_for_update())
    return license


def _lock_licenses(license_ids: list[Any]) -> None:
    """Lock several license rows at once, in the one order every transaction uses (core.locking)."""
    lock_rows(LikenessLicense.objects.select_for_update().filter(pk__in=license_ids), Rank.LICENSE)


def _move(license: LikenessLicense, action: str, actor: str, data: dict[str, Any] | None = None) -> None:
    license.status = next_status(license, action)
    license.status_changed_at = timezone.now()
    license.save(update_fields=["status", "status_changed_at"])
    audit_append(action=f"license.{license.status}", actor=actor, subject=f"license:{license.id}", data=data or {})


@transaction.atomic
def license_offer(*, license: LikenessLicense, acting_user: AbstractBaseUser) -> LikenessLicense:
    license = _locked(license)
    policies.enforce(policies.refuse_legal_action(user=acting_user, licensee_id=license.licensee_id,
                                                  action="offer its licenses"))
    _move(license, "offer", user_actor(acting_user))
    return license


@dataclass(frozen=True)
class SignatureContext:
    """How the signer was authenticated and what they saw: the e-signature evidence."""

    text_sha256_seen: str
    disclosure_accepted: bool
    authentication_method: str
    ip_address: str | None = None
    user_agent: str = ""
    disclosure_version: str = DISCLOSURE_VERSION


def talent_side_role(license: LikenessLicense) -> str:
    return {LikenessLicense.Capacity.ADULT: SignatureEvent.Role.TALENT,
            LikenessLicense.Capacity.MINOR: SignatureEvent.Role.GUARDIAN,
            LikenessLicense.Capacity.DECEASED: SignatureEvent.Role.ESTATE}[license.capacity]


def _record_signature(license: LikenessLicense, role: str, context: SignatureContext, acting_user: AbstractBaseUser,
                      intent: str, representation: Representation | None = None) -> SignatureEvent:
    if context.text_sha256_seen != license.text_sha256 or text_sha256(license.text) != license.text_sha256:
        raise ValidationFailed("The license text changed since it was shown; read it again before signing.",
                               field="text_sha256")
    if not context.disclosure_accepted or context.disclosure_version != DISCLOSURE_VERSION:
        raise ValidationFailed("Accept the current electronic-records disclosure before signing.",
                               field="disclosure_accepted")
    now = timezone.now()
    return SignatureEvent.objects.create(
        license=license, role=role, signer=acting_user, signed_at=now, ip_address=context.ip_address,
        user_agent=context.user_agent[:500], authentication_method=context.authentication_method,
        disclosure_version=context.disclosure_version, disclosure_accepted_at=now, document_sha256=license.text_sha256,
        intent=intent, representation=representation)


@transaction.atomic
def license_sign(*, license: LikenessLicense, context: SignatureContext, acting_user: AbstractBaseUser) -> LikenessLicense:
    """The talent signs the exact text they were shown; for a minor their verified
    guardian, for a deceased person the verified executor of the estate (the
    representation on file, never one a studio named)."""
    license = _locked(license)
    side = policies.talent_side(license)
    policies.enforce(policies.refuse_talent_signature(user=acting_user, license=license, side=side))
    next_status(license, "sign")
    event = _record_signature(license, talent_side_role(license), context, acting_user,
                              intent="I have read this license and sign it", representation=side.representation)
    license.signed_by, license.signed_under = acting_user, side.representation
    license.save(update_fields=["signed_by", "signed_under"])
    _move(license, "sign", user_actor(acting_user), {
        "role": event.role, "text_sha256": license.text_sha256, "authentication": context.authentication_method,
        "representation": str(side.representation.id) if side.representation else None})
    return license


@transaction.atomic
def license_countersign(*, license: LikenessLicense, context: SignatureContext,
                        acting_user: AbstractBaseUser) -> LikenessLicense:
    """Legal countersigns; an amendment supersedes the version it amends at this moment."""
    _lock_licenses([license.pk, license.previous_id])
    license = _locked(license)
    policies.enforce(policies.refuse_countersign(user=acting_user, license=license))
    next_status(license, "countersign")
    _record_signature(license, SignatureEvent.Role.LICENSEE, context, acting_user, intent="Countersigned for the licensee")
    license.countersigned_by = acting_user
    license.save(update_fields=["countersigned_by"])
    _move(license, "countersign", user_actor(acting_user), {"text_sha256": license.text_sha256,
                                                            "authentication": context.authentication_method})
    if license.previous_id:
        previous = _locked(license.previous)
        if previous.status in (LikenessLicense.Status.COUNTERSIGNED, LikenessLicense.Status.SUSPENDED):
            _move(previous, "supersede", user_actor(acting_user), {"by": str(license.id)})
    return license


# The reasons a person gives for suspending a license (the API's and the portal's choices).
# "representation" is the platform's own: a license its verification desk found signed
# without a verified representation on file (see the migration to the desk).
SUSPENSION_REASONS: tuple[LicenseSuspension.Reason, ...] = (
    LicenseSuspension.Reason.STRIKE, LicenseSuspension.Reason.DISPUTE, LicenseSuspension.Reason.OTHER)
SUSPENSION_NOTE_REFUSAL = "Say what the suspension is for."


@transaction.atomic
def license_suspend(*, license: LikenessLicense, reason: str, note: str, acting_user: AbstractBaseUser) -> LicenseSuspension:
    """Pause a license (a strike, a dispute): the gate refuses while it lasts; nothing is revoked.
    The reason is one of SUSPENSION_REASONS; "other" needs a note saying what it is."""
    license = _locked(license)
    policies.enforce(policies.refuse_suspend(user=acting_user, license=license))
    if reason not in SUSPENSION_REASONS:
        raise ValidationFailed(f"The reason is {', '.join(SUSPENSION_REASONS[:-1])} or {SUSPENSION_REASONS[-1]}.",
                               field="reason")
    note = (note or "").strip()
    if reason == LicenseSuspension.Reason.OTHER and not note:
        raise ValidationFailed(SUSPENSION_NOTE_REFUSAL, field="note")
    _move(license, "suspend", user_actor(acting_user), {"reason": reason})
    return LicenseSuspension.objects.create(license=license, reason=reason, note=note, suspended_by=acting_user)


@transaction.atomic
def license_resume(*, license: LikenessLicense, acting_user: AbstractBaseUser) -> LikenessLicense:
    license = _locked(license)
    policies.enforce(policies.refuse_legal_action(user=acting_user, licensee_id=license.licensee_id,
                                                  action="lift a suspension"))
    _move(license, "resume", user_actor(acting_user))
    LicenseSuspension.objects.filter(license=license, lifted_at__isnull=True).update(lifted_at=timezone.now(),
                                                                                   lifted_by=acting_user)
    return license


@transaction.atomic
def license_revoke(*, license: LikenessLicense, reason: str, acting_user: AbstractBaseUser) -> LicenseRevocation:
    """Revoke at once. Takes the license lock that publication takes (invariant 1), so the
    list of already-published outputs recorded here is exact."""
    license = _locked(license)
    policies.enforce(policies.refuse_revoke(user=acting_user, license=license))
    if not reason.strip():
        raise ValidationFailed("Give a reason for the revocation.", field="reason")
    next_status(license, "revoke")
    published = list(LicenseUse.objects.filter(license=license).order_by("published_at", "id")
                     .values_list("output_ref", flat=True))
    revocation = LicenseRevocation.objects.create(license=license, revoked_by=acting_user, reason=reason.strip(),
                                                  published_outputs=published)
    _move(license, "revoke", user_actor(acting_user), {"published_outputs": published})
    likeness_models_retire(license=license, reason="license_revoked", actor=user_actor(acting_user))
    license_id, actor = str(license.id), user_actor(acting_user)
    transaction.on_commit(lambda: license_revoked.send(sender=LikenessLicense, license_id=license_id, actor=actor))
    return revocation


def licenses_expire(*, actor: str, today: date | None = None) -> list[str]:
    """Record the expiry of executed licenses past their end date (the gate refuses them already)."""
    today = today or timezone.localdate()
    expired = []
    executed = Q(status__in=[LikenessLicense.Status.COUNTERSIGNED, LikenessLicense.Status.SUSPENDED]) | Q(
        kind=LikenessLicense.Kind.VIEWER, status=LikenessLicense.Status.SIGNED)
    for license_id in LikenessLicense.objects.filter(executed, ends_on__lt=today).values_list("id", flat=True):
        with transaction.atomic():
            claim(Rank.LICENSE, rows=[license_id])
            license = LikenessLicense.objects.select_for_update().get(pk=license_id)
            action = "expire_viewer" if license.kind == LikenessLicense.Kind.VIEWER else "expire"
            if license.ends_on < today and license.status in TRANSITIONS[action][0]:
                _move(license, action, actor, {"ended_on": license.ends_on.isoformat()})
                likeness_models_retire(license=license, reason="license_lapsed", actor=actor)
                expired.append(str(license.id))
    return expired


def reference_photo_add(*, talent: Talent, data: bytes, filename: str, acting_user: AbstractBaseUser) -> ReferencePhoto:
    """Check, re-encode and store one reference photo, sealed under the talent's key."""
    if acting_user.pk != talent.user_id:
        raise NotAllowed("Only the talent can add their reference photos.")
    if TalentKey.objects.filter(talent=talent, destroyed_at__isnull=False).exists():
        raise InvalidTransition("This talent's data was erased.")
    prepared = prepare_reference_photo(
        data, filename=filename, resolution=max(settings.BESPOKE_TRAINING_RESOLUTION, settings.BESPOKE_PHOTO_STORED_SIDE),
        max_bytes=settings.BESPOKE_PHOTO_MAX_BYTES,
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
    claim(Rank.TALENT, rows=[talent.pk])
    talent = Talent.objects.select_for_update().get(pk=talent.pk)
    if acting_user.pk != talent.user_id:
        raise NotAllowed("Only the talent can erase their data.")
    actor = user_actor(acting_user)
    revoked = []
    _lock_licenses(list(licenses_revoked_on_erasure(talent=talent).values_list("pk", flat=True)))
    for license in licenses_revoked_on_erasure(talent=talent):
        license_revoke(license=license, reason="Erasure requested by the talent.", acting_user=acting_user)
        revoked.append(str(license.id))
    destroyed = likeness_models_destroy_for_talent(talent_id=talent.id, reason="erasure", actor=actor)
    photos = list(ReferencePhoto.objects.filter(talent=talent, deleted_at__isnull=True))
    evidence = list(IdentityEvidence.objects.filter(verification__talent=talent, deleted_at__isnull=True))
    authority = list(RepresentationEvidence.objects.filter(representation__talent=talent, deleted_at__isnull=True))
    face_checks = list(FaceCheck.objects.filter(talent=talent).exclude(status=FaceCheck.Status.ERASED))
    face_files = [name for check in face_checks for name in (check.capture_stored_name, check.descriptors_stored_name)]
    for stored in [item.stored_name for item in photos + evidence + authority] + face_files:
        transaction.on_commit(lambda name=stored: vault_delete(name))
    FaceCheck.objects.filter(pk__in=[c.pk for c in face_checks]).update(
        status=FaceCheck.Status.ERASED, capture_stored_name="", descriptors_stored_name="")
    now = timezone.now()
    ReferencePhoto.objects.filter(pk__in=[p.pk for p in photos]).update(deleted_at=now, stored_name="")
    IdentityEvidence.objects.filter(pk__in=[e.pk for e in evidence]).update(deleted_at=now, stored_name="")
    RepresentationEvidence.objects.filter(pk__in=[e.pk for e in authority]).update(deleted_at=now, stored_name="")
    IdentityVerification.objects.filter(talent=talent).update(legal_name="")
    talent_key_destroy(talent_id=talent.id)
    talent.display_name = "Erased talent"
    talent.save(update_fields=["display_name"])
    talent_erased.send(sender=Talent, user_id=talent.user_id)
    audit_append(action="talent.erased", actor=actor, subject=f"talent:{talent.id}",
                 data={"revoked_licenses": revoked, "destroyed_models": destroyed, "deleted_photos": len(photos)})
    return {"revoked_licenses": revoked, "destroyed_models": destroyed}
