"""Every write in consent: enrolment, verification, licenses, signatures, revocation."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.actors import user_actor
from audit.services import audit_append
from bespoke.errors import InvalidTransition, NotAllowed, ValidationFailed
from consent.content_policy import CATEGORIES
from consent.keys import talent_key_destroy
from consent.lifecycle import TRANSITIONS, add_years, minor_term_cap, next_status
from consent.likeness import likeness_models_destroy_for_talent, likeness_models_retire
from consent.models import (
    IdentityEvidence,
    IdentityVerification,
    LicenseRevocation,
    LicenseSuspension,
    LicenseUse,
    LikenessLicense,
    Membership,
    Organization,
    ReferencePhoto,
    SignatureEvent,
    Talent,
    TalentKey,
)
from consent.selectors import licenses_revoked_on_erasure, may_see_identity
from consent.uploads import check_video, prepare_image, prepare_reference_photo
from consent.signals import license_revoked, talent_erased
from consent.vault import vault_delete, vault_get, vault_put
from consent.terms import DISCLOSURE_VERSION, LicenseTerms, render_license_text, text_sha256

MIN_USE_DESCRIPTION = 40

MAX_RENDERS = 1_000_000  # far above any real budget, well inside a 32-bit column


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
    from consent.license_templates import license_templates_install_built_in  # it builds on this module

    license_templates_install_built_in(organization=organization, acting_user=acting_user)
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


@transaction.atomic
def identity_verification_request(*, talent: Talent, method: str, acting_user: AbstractBaseUser) -> IdentityVerification:
    if method not in IdentityVerification.Method.values:
        raise ValidationFailed(f"Unknown verification method {method!r}.", field="method")
    if talent.verifications.filter(status=IdentityVerification.Status.PENDING).exists():
        raise InvalidTransition("A verification for this talent is already waiting for a decision.")
    verification = IdentityVerification.objects.create(talent=talent, method=method, requested_by=acting_user,
                                                       challenge_code=secrets.token_hex(3).upper())
    audit_append(action="identity.verification_requested", actor=user_actor(acting_user),
                 subject=f"talent:{talent.id}", data={"verification": str(verification.id), "method": method})
    return verification


def identity_evidence_add(*, verification: IdentityVerification, kind: str, data: bytes, filename: str,
                          acting_user: AbstractBaseUser) -> IdentityEvidence:
    """The talent uploads evidence for their pending verification; it is checked and sealed."""
    if acting_user.pk != verification.talent.user_id:
        raise NotAllowed("Only the talent uploads evidence for their verification.")
    verification.refresh_from_db(fields=["status"])
    if verification.status != IdentityVerification.Status.PENDING:
        raise InvalidTransition("This verification was already decided.")
    if kind not in IdentityEvidence.Kind.values:
        raise ValidationFailed("Evidence is an id_document or a consent_capture.", field="kind")
    limits = {"max_bytes": settings.BESPOKE_EVIDENCE_MAX_BYTES, "max_pixels": settings.BESPOKE_PHOTO_MAX_PIXELS}
    is_video = data[4:8] == b"ftyp" or data[:4] == b"\x1a\x45\xdf\xa3"  # MP4, or WebM (EBML)
    if is_video and kind != IdentityEvidence.Kind.CONSENT_CAPTURE:
        raise ValidationFailed("An identity document is an image: a photo or scan of it.", field="file")
    if is_video:
        media_type = check_video(data, max_bytes=limits["max_bytes"], max_seconds=settings.BESPOKE_EVIDENCE_MAX_SECONDS)
        plaintext = data
    else:
        plaintext = prepare_image(data, filename=filename, min_side=settings.BESPOKE_PHOTO_MIN_SIDE, field="file",
                                  **limits).png
        media_type = "image/png"
    evidence = IdentityEvidence(verification=verification, kind=kind, media_type=media_type)
    stored = ""
    try:
        with transaction.atomic():
            stored = vault_put(talent_id=verification.talent_id, object_ref=evidence.object_ref, plaintext=plaintext,
                               name=f"likeness/{verification.talent_id}/evidence/{evidence.id}.sealed")
            evidence.stored_name = stored
            evidence.save()
            audit_append(action="identity.evidence_added", actor=user_actor(acting_user),
                         subject=f"talent:{verification.talent_id}",
                         data={"verification": str(verification.id), "evidence": str(evidence.id), "kind": kind})
    except BaseException:
        vault_delete(stored)
        raise
    return evidence


@transaction.atomic
def identity_evidence_open(*, evidence: IdentityEvidence, acting_user: AbstractBaseUser) -> bytes:
    """Decrypt evidence for the legal staff deciding the verification; the viewing is audited."""
    talent_id = evidence.verification.talent_id
    if not _is_legal(acting_user) or not may_see_identity(user=acting_user, talent_id=talent_id):
        raise NotAllowed("Only legal staff of an organisation the talent works with review identity evidence.")
    audit_append(action="identity.evidence_viewed", actor=user_actor(acting_user), subject=f"talent:{talent_id}",
                 data={"evidence": str(evidence.id)})
    return vault_get(talent_id=talent_id, object_ref=evidence.object_ref, name=evidence.stored_name)


@transaction.atomic
def identity_verification_decide(*, verification: IdentityVerification, approve: bool, note: str,
                                 acting_user: AbstractBaseUser) -> IdentityVerification:
    verification.refresh_from_db(from_queryset=IdentityVerification.objects.select_for_update())
    if verification.status != IdentityVerification.Status.PENDING:
        raise InvalidTransition(f"This verification was already {verification.status}.")
    if not _is_legal(acting_user) or not may_see_identity(user=acting_user, talent_id=verification.talent_id):
        raise NotAllowed("Only legal staff of an organisation the talent works with can decide this verification.")
    if acting_user.pk == verification.requested_by_id or acting_user.pk == verification.talent.user_id:
        raise NotAllowed("Four eyes: the person who asked for a verification cannot decide it.")
    if not approve and not note.strip():
        raise ValidationFailed("Say why the verification is rejected.", field="note")
    if approve and verification.method != IdentityVerification.Method.IN_PERSON:
        kinds = set(verification.evidence.filter(deleted_at__isnull=True).values_list("kind", flat=True))
        if kinds != set(IdentityEvidence.Kind.values):
            raise InvalidTransition("Approve only once the talent has uploaded an identity document and a consent "
                                    "capture showing the challenge code.")
    verification.status = IdentityVerification.Status.APPROVED if approve else IdentityVerification.Status.REJECTED
    verification.decided_by = acting_user
    verification.decided_at = timezone.now()
    verification.decision_note = note.strip()
    verification.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_append(action=f"identity.verification_{verification.status}", actor=user_actor(acting_user),
                 subject=f"talent:{verification.talent_id}", data={"verification": str(verification.id)})
    return verification


LICENSE_FIELDS = ("project", "role", "use_description", "permitted_media", "territories", "languages", "dubbing",
                  "advertising", "interactive", "derivatives", "allows_likeness_model", "excluded_categories",
                  "requires_use_approval", "max_renders", "starts_on", "ends_on", "capacity", "talent_birth_date",
                  "representative", "representation", "representation_detail", "compensation_basis",
                  "compensation_rate", "compensation_currency")
_COUNTRY = re.compile(r"^(?:[A-Z]{2}|worldwide)$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Z]{2})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _clean_terms(terms: dict[str, Any]) -> dict[str, Any]:
    """Validate a license's structured terms; every refusal names its field in plain words."""
    t = dict(terms)
    for name in ("project", "role"):
        t[name] = " ".join(str(t.get(name) or "").split())
        if not t[name]:
            raise ValidationFailed(f"Name the {name} this license is for.", field=name)
    t["use_description"] = " ".join(str(t.get("use_description") or "").split())
    if len(t["use_description"]) < MIN_USE_DESCRIPTION:
        raise ValidationFailed(f"Describe the use specifically (at least {MIN_USE_DESCRIPTION} characters): "
                               "the scenes, how the likeness appears and where.", field="use_description")
    for name, allowed, message in (
        ("permitted_media", lambda v: v in LikenessLicense.Medium.values,
         f"Permitted media must be some of {', '.join(LikenessLicense.Medium.values)}."),
        ("territories", _COUNTRY.match, "Territories are ISO country codes such as FR or US, or 'worldwide'."),
        ("languages", _LANGUAGE.match, "Languages are codes such as en, fr or pt-BR."),
        ("excluded_categories", lambda v: v in CATEGORIES, f"Excluded categories must be some of {', '.join(CATEGORIES)}."),
    ):
        values = t.get(name) or []
        if isinstance(values, str) or not all(isinstance(v, str) and allowed(v) for v in values):
            raise ValidationFailed(message, field=name)
        t[name] = sorted(set(values))
    for name in ("permitted_media", "territories", "languages"):
        if not t[name]:
            raise ValidationFailed(f"Give at least one of {name.replace('_', ' ')}.", field=name)
    for name in ("dubbing", "advertising", "interactive", "derivatives", "allows_likeness_model", "requires_use_approval"):
        t[name] = bool(t.get(name, False))
    if not isinstance(t.get("max_renders"), int) or t["max_renders"] < 1:
        raise ValidationFailed("A license allows at least one render.", field="max_renders")
    if t["max_renders"] > MAX_RENDERS:
        raise ValidationFailed(f"A license allows at most {MAX_RENDERS:,} renders.", field="max_renders")
    starts_on, ends_on = t.get("starts_on"), t.get("ends_on")
    if not isinstance(starts_on, date) or not isinstance(ends_on, date):
        raise ValidationFailed("A license needs a start date and an end date: no perpetual terms.", field="ends_on")
    if ends_on <= starts_on:
        raise ValidationFailed("The license must end after it starts.", field="ends_on")
    capacity = t.setdefault("capacity", LikenessLicense.Capacity.ADULT)
    if capacity not in LikenessLicense.Capacity.values:
        raise ValidationFailed("Capacity is adult, minor or deceased.", field="capacity")
    if capacity == LikenessLicense.Capacity.MINOR:
        birth = t.get("talent_birth_date")
        if not isinstance(birth, date):
            raise ValidationFailed("A minor's license needs the talent's date of birth.", field="talent_birth_date")
        cap = minor_term_cap(starts_on=starts_on, birth_date=birth)
        if ends_on > cap:
            raise ValidationFailed(f"A minor's license ends by their 18th birthday and within five years: "
                                   f"{cap.isoformat()} at the latest.", field="ends_on")
    elif ends_on > add_years(starts_on, settings.BESPOKE_LICENSE_MAX_YEARS):
        raise ValidationFailed(f"A license lasts at most {settings.BESPOKE_LICENSE_MAX_YEARS} years.", field="ends_on")
    if capacity != LikenessLicense.Capacity.ADULT and t.get("representative") is None:
        raise ValidationFailed("Name the guardian or estate representative who signs.", field="representative")
    if capacity == LikenessLicense.Capacity.ADULT:
        t["representative"] = None
    representation = t.setdefault("representation", LikenessLicense.Representation.NONE)
    if representation not in LikenessLicense.Representation.values:
        raise ValidationFailed("Representation is none, counsel or union.", field="representation")
    t["representation_detail"] = " ".join(str(t.get("representation_detail") or "").split())
    if representation != LikenessLicense.Representation.NONE and not t["representation_detail"]:
        raise ValidationFailed("Name the counsel or the union agreement.", field="representation_detail")
    if t.get("compensation_basis") not in LikenessLicense.CompensationBasis.values:
        raise ValidationFailed("Compensation basis is flat, per_render or per_day.", field="compensation_basis")
    try:
        t["compensation_rate"] = Decimal(str(t.get("compensation_rate"))).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("The compensation rate is an amount such as 1500.00.", field="compensation_rate") from None
    if t["compensation_rate"] < 0 or t["compensation_rate"] >= Decimal("1e10"):
        raise ValidationFailed("The compensation rate is a positive amount.", field="compensation_rate")
    if not _CURRENCY.match(str(t.get("compensation_currency") or "")):
        raise ValidationFailed("The currency is an ISO 4217 code such as EUR or USD.", field="compensation_currency")
    unknown = set(t) - set(LICENSE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown license terms: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    return t


def _create_license(*, talent: Talent, licensee: Organization, terms: dict[str, Any], version: int,
                    previous: LikenessLicense | None, acting_user: AbstractBaseUser) -> LikenessLicense:
    terms = _clean_terms(terms)
    text = render_license_text(LicenseTerms(
        talent_name=talent.display_name, licensee_name=licensee.name, version=version,
        **{k: v for k, v in terms.items() if k in LicenseTerms.__dataclass_fields__}))
    license = LikenessLicense.objects.create(talent=talent, licensee=licensee, version=version, previous=previous,
                                             text=text, text_sha256=text_sha256(text), drafted_by=acting_user, **terms)
    audit_append(action="license.drafted", actor=user_actor(acting_user), subject=f"license:{license.id}",
                 data={"talent": str(talent.id), "licensee": str(licensee.id), "version": version,
                       "previous": str(previous.id) if previous else None, "text_sha256": license.text_sha256})
    return license


@transaction.atomic
def license_draft(*, talent: Talent, licensee: Organization, acting_user: AbstractBaseUser, **terms: Any) -> LikenessLicense:
    """Draft a license from its structured terms (see LICENSE_FIELDS); only the licensee's legal staff draft."""
    if not _is_legal(acting_user, licensee):
        raise NotAllowed("Only the licensee's legal staff can draft its licenses.")
    return _create_license(talent=talent, licensee=licensee, terms=terms, version=1, previous=None, acting_user=acting_user)


@transaction.atomic
def license_amend(*, license: LikenessLicense, changes: dict[str, Any], acting_user: AbstractBaseUser) -> LikenessLicense:
    """Draft the next version; it supersedes this one when it is countersigned."""
    license = _locked(license)
    if not _is_legal(acting_user, license.licensee):
        raise NotAllowed("Only the licensee's legal staff can amend its licenses.")
    next_status(license, "amend")
    if LikenessLicense.objects.filter(previous=license).exists():
        raise InvalidTransition("An amendment of this license is already in progress.")
    terms = {name: getattr(license, name) for name in LICENSE_FIELDS}
    terms.update(changes)
    return _create_license(talent=license.talent, licensee=license.licensee, terms=terms, version=license.version + 1,
                           previous=license, acting_user=acting_user)


def _locked(license: LikenessLicense) -> LikenessLicense:
    """Lock the row and refresh the caller's instance in place, so it sees what was decided."""
    license.refresh_from_db(from_queryset=LikenessLicense.objects.select_for_update())
    return license


def _move(license: LikenessLicense, action: str, actor: str, data: dict[str, Any] | None = None) -> None:
    license.status = next_status(license, action)
    license.status_changed_at = timezone.now()
    license.save(update_fields=["status", "status_changed_at"])
    audit_append(action=f"license.{license.status}", actor=actor, subject=f"license:{license.id}", data=data or {})


@transaction.atomic
def license_offer(*, license: LikenessLicense, acting_user: AbstractBaseUser) -> LikenessLicense:
    license = _locked(license)
    if not _is_legal(acting_user, license.licensee):
        raise NotAllowed("Only the licensee's legal staff can offer its licenses.")
    if license.capacity == LikenessLicense.Capacity.DECEASED and not license.authority_document_sha256:
        raise InvalidTransition("Attach the estate's authority document before offering this license.")
    _move(license, "offer", user_actor(acting_user))
    return license


def license_authority_document_attach(*, license: LikenessLicense, data: bytes, filename: str,
                                      acting_user: AbstractBaseUser) -> LikenessLicense:
    """Attach the document that gives the estate representative authority (a deceased
    person's license): a PDF or an image, stored sealed under the talent's key."""
    if not _is_legal(acting_user, license.licensee):
        raise NotAllowed("Only the licensee's legal staff attach authority documents.")
    if license.status != LikenessLicense.Status.DRAFT or license.capacity != LikenessLicense.Capacity.DECEASED:
        raise InvalidTransition("An authority document is attached to the draft of a deceased person's license.")
    if data.startswith(b"%PDF-"):
        if len(data) > settings.BESPOKE_EVIDENCE_MAX_BYTES:
            raise ValidationFailed("The document is too large.", field="file")
        plaintext = data
    else:
        plaintext = prepare_image(data, filename=filename, max_bytes=settings.BESPOKE_EVIDENCE_MAX_BYTES,
                                  max_pixels=settings.BESPOKE_PHOTO_MAX_PIXELS, min_side=settings.BESPOKE_PHOTO_MIN_SIDE,
                                  field="file").png
    stored = ""
    try:
        with transaction.atomic():
            license = _locked(license)
            previous = license.authority_document_name
            stored = vault_put(talent_id=license.talent_id, object_ref=license.authority_document_ref,
                               plaintext=plaintext, name=f"likeness/{license.talent_id}/authority/{license.id}.sealed")
            license.authority_document_name = stored
            license.authority_document_sha256 = hashlib.sha256(plaintext).hexdigest()
            license.save(update_fields=["authority_document_name", "authority_document_sha256"])
            audit_append(action="license.authority_document_attached", actor=user_actor(acting_user),
                         subject=f"license:{license.id}", data={"sha256": license.authority_document_sha256})
            if previous:
                transaction.on_commit(lambda: vault_delete(previous))
    except BaseException:
        vault_delete(stored)
        raise
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
                      intent: str) -> SignatureEvent:
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
        intent=intent)


@transaction.atomic
def license_sign(*, license: LikenessLicense, context: SignatureContext, acting_user: AbstractBaseUser) -> LikenessLicense:
    """The talent (or a minor's guardian, or the estate) signs the exact text they were shown."""
    license = _locked(license)
    if acting_user.pk != license.talent_side_signer_id:
        raise NotAllowed("Only the talent named in a license (or their guardian or estate) can sign it.")
    next_status(license, "sign")
    event = _record_signature(license, talent_side_role(license), context, acting_user,
                              intent="I have read this license and sign it")
    _move(license, "sign", user_actor(acting_user), {"role": event.role, "text_sha256": license.text_sha256,
                                                     "authentication": context.authentication_method})
    return license


@transaction.atomic
def license_countersign(*, license: LikenessLicense, context: SignatureContext,
                        acting_user: AbstractBaseUser) -> LikenessLicense:
    """Legal countersigns; an amendment supersedes the version it amends at this moment."""
    license = _locked(license)
    if not _is_legal(acting_user, license.licensee):
        raise NotAllowed("Only the licensee's legal staff can countersign.")
    next_status(license, "countersign")
    _record_signature(license, SignatureEvent.Role.LICENSEE, context, acting_user, intent="Countersigned for the licensee")
    _move(license, "countersign", user_actor(acting_user), {"text_sha256": license.text_sha256,
                                                            "authentication": context.authentication_method})
    if license.previous_id:
        previous = _locked(license.previous)
        if previous.status in (LikenessLicense.Status.COUNTERSIGNED, LikenessLicense.Status.SUSPENDED):
            _move(previous, "supersede", user_actor(acting_user), {"by": str(license.id)})
    return license


@transaction.atomic
def license_suspend(*, license: LikenessLicense, reason: str, note: str, acting_user: AbstractBaseUser) -> LicenseSuspension:
    """Pause a license (a strike, a dispute): the gate refuses while it lasts; nothing is revoked."""
    license = _locked(license)
    if not _is_legal(acting_user, license.licensee) and acting_user.pk != license.talent_side_signer_id:
        raise NotAllowed("Only the talent or the licensee's legal staff can suspend this license.")
    if reason not in LicenseSuspension.Reason.values:
        raise ValidationFailed("The reason is strike, dispute or other.", field="reason")
    _move(license, "suspend", user_actor(acting_user), {"reason": reason})
    return LicenseSuspension.objects.create(license=license, reason=reason, note=note.strip(), suspended_by=acting_user)


@transaction.atomic
def license_resume(*, license: LikenessLicense, acting_user: AbstractBaseUser) -> LikenessLicense:
    license = _locked(license)
    if not _is_legal(acting_user, license.licensee):
        raise NotAllowed("Only the licensee's legal staff can lift a suspension.")
    _move(license, "resume", user_actor(acting_user))
    LicenseSuspension.objects.filter(license=license, lifted_at__isnull=True).update(lifted_at=timezone.now(),
                                                                                   lifted_by=acting_user)
    return license


@transaction.atomic
def license_revoke(*, license: LikenessLicense, reason: str, acting_user: AbstractBaseUser) -> LicenseRevocation:
    """Revoke at once. Takes the license lock that publication takes (invariant 1), so the
    list of already-published outputs recorded here is exact."""
    license = _locked(license)
    if acting_user.pk not in (license.talent.user_id, license.representative_id) and \
            not _is_legal(acting_user, license.licensee):
        raise NotAllowed("Only the talent or the licensee's legal staff can revoke this license.")
    if not reason.strip():
        raise ValidationFailed("Give a reason for the revocation.", field="reason")
    next_status(license, "revoke")
    published = list(LicenseUse.objects.filter(license=license).order_by("published_at", "id")
                     .values_list("output_ref", flat=True))
    revocation = LicenseRevocation.objects.create(license=license, revoked_by=acting_user, reason=reason.strip(),
                                                  published_outputs=published)
    _move(license, "revoke", user_actor(acting_user), {"published_outputs": published})
    likeness_models_retire(talent_id=license.talent_id, licensee_id=license.licensee_id, reason="license_revoked",
                           actor=user_actor(acting_user))
    license_id, actor = str(license.id), user_actor(acting_user)
    transaction.on_commit(lambda: license_revoked.send(sender=LikenessLicense, license_id=license_id, actor=actor))
    return revocation


def licenses_expire(*, actor: str, today: date | None = None) -> list[str]:
    """Record the expiry of executed licenses past their end date (the gate refuses them already)."""
    today = today or timezone.localdate()
    expired = []
    for license_id in LikenessLicense.objects.filter(
            status__in=[LikenessLicense.Status.COUNTERSIGNED, LikenessLicense.Status.SUSPENDED],
            ends_on__lt=today).values_list("id", flat=True):
        with transaction.atomic():
            license = LikenessLicense.objects.select_for_update().get(pk=license_id)
            if license.ends_on < today and license.status in TRANSITIONS["expire"][0]:
                _move(license, "expire", actor, {"ended_on": license.ends_on.isoformat()})
                likeness_models_retire(talent_id=license.talent_id, licensee_id=license.licensee_id,
                                       reason="license_lapsed", actor=actor)
                expired.append(str(license.id))
    return expired


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
    for license in licenses_revoked_on_erasure(talent=talent):
        license_revoke(license=license, reason="Erasure requested by the talent.", acting_user=acting_user)
        revoked.append(str(license.id))
    destroyed = likeness_models_destroy_for_talent(talent_id=talent.id, reason="erasure", actor=actor)
    photos = list(ReferencePhoto.objects.filter(talent=talent, deleted_at__isnull=True))
    evidence = list(IdentityEvidence.objects.filter(verification__talent=talent, deleted_at__isnull=True))
    authority = [name for name in LikenessLicense.objects.filter(talent=talent).exclude(authority_document_name="")
                 .values_list("authority_document_name", flat=True)]
    LikenessLicense.objects.filter(talent=talent).update(authority_document_name="")
    for stored in [item.stored_name for item in photos + evidence] + authority:
        transaction.on_commit(lambda name=stored: vault_delete(name))
    ReferencePhoto.objects.filter(pk__in=[p.pk for p in photos]).update(deleted_at=timezone.now(), stored_name="")
    IdentityEvidence.objects.filter(pk__in=[e.pk for e in evidence]).update(deleted_at=timezone.now(), stored_name="")
    talent_key_destroy(talent_id=talent.id)
    talent.display_name = "Erased talent"
    talent.save(update_fields=["display_name"])
    talent_erased.send(sender=Talent, user_id=talent.user_id)
    audit_append(action="talent.erased", actor=actor, subject=f"talent:{talent.id}",
                 data={"revoked_licenses": revoked, "destroyed_models": destroyed, "deleted_photos": len(photos)})
    return {"revoked_licenses": revoked, "destroyed_models": destroyed}
