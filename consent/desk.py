"""The verification desk: identity verifications and representations, their sealed
evidence, and the decisions of the platform operator's verifiers.

A talent asks for their identity to be verified and uploads an identity document and a
capture showing a challenge code. A guardian, an estate's executor or an agent asks to
represent a talent and uploads their own identity document, a capture and the document
that gives them authority. Evidence is checked, re-encoded and sealed under the talent's
key. Approval takes two different verifiers: the first records what the evidence
establishes (a legal name and a date of birth; a representation's validity; an
estate's date of death), the second confirms it. Either may reject. No one decides on a
request they made, on themself, or for a talent a studio of theirs works with; every
viewing of evidence is audited. Audit events carry ids only: never a name or a date of
birth.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.utils import timezone

from audit.actors import user_actor
from audit.services import audit_append
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from consent import policies
from consent.facts import talent_facts
from consent.selectors import talent_erased_at
from consent.models import (
    IdentityEvidence,
    IdentityVerification,
    Representation,
    RepresentationEvidence,
    Talent,
)
from consent.uploads import prepare_image, prepare_pdf, prepare_video
from consent.vault import vault_delete, vault_get, vault_put

OLDEST_AGE = 130
Kind = Representation.Kind


def _challenge_code() -> str:
    return secrets.token_hex(3).upper()


def _evidence_plaintext(data: bytes, *, filename: str, video_allowed: bool, pdf_allowed: bool) -> tuple[bytes, str]:
    """Check an evidence upload by content: an image (re-encoded as PNG), or where allowed a
    short video (a consent capture, re-encoded as H.264 MP4) or a PDF (an authority
    document, written anew from its parsed pages)."""
    max_bytes = settings.BESPOKE_EVIDENCE_MAX_BYTES
    if data[4:8] == b"ftyp" or data[:4] == b"\x1a\x45\xdf\xa3":  # MP4, or WebM (EBML)
        if not video_allowed:
            raise ValidationFailed("This document is an image (a photo or scan of it), not a video.", field="file")
        return prepare_video(data, max_bytes=max_bytes, max_seconds=settings.BESPOKE_EVIDENCE_MAX_SECONDS), "video/mp4"
    if data.startswith(b"%PDF-"):
        if not pdf_allowed:
            raise ValidationFailed("Upload this as an image: a photo or a scan.", field="file")
        return prepare_pdf(data, max_bytes=max_bytes), "application/pdf"
    prepared = prepare_image(data, filename=filename, max_bytes=max_bytes, max_pixels=settings.BESPOKE_PHOTO_MAX_PIXELS,
                             min_side=settings.BESPOKE_PHOTO_MIN_SIDE, field="file")
    return prepared.png, "image/png"


def _seal(evidence: models.Model, *, talent_id: object, folder: str, plaintext: bytes, audit: dict[str, Any]) -> None:
    """Store the sealed file and its row together: a failure leaves neither."""
    stored = ""
    try:
        with transaction.atomic():
            stored = vault_put(talent_id=talent_id, object_ref=evidence.object_ref, plaintext=plaintext,
                               name=f"likeness/{talent_id}/{folder}/{evidence.pk}.sealed")
            evidence.stored_name = stored
            evidence.save()
            audit_append(**audit)
    except BaseException:
        vault_delete(stored)
        raise


# --- identity -------------------------------------------------------------------------------

@transaction.atomic
def identity_verification_request(*, talent: Talent, method: str, acting_user: AbstractBaseUser) -> IdentityVerification:
    if acting_user.pk != talent.user_id:
        raise NotAllowed("Only the talent asks for their identity to be verified.")
    if method not in IdentityVerification.Method.values:
        raise ValidationFailed(f"Unknown verification method {method!r}.", field="method")
    if talent.verifications.filter(status=IdentityVerification.Status.PENDING).exists():
        raise InvalidTransition("A verification for this talent is already waiting for a decision.")
    verification = IdentityVerification.objects.create(talent=talent, method=method, requested_by=acting_user,
                                                       challenge_code=_challenge_code())
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
    plaintext, media_type = _evidence_plaintext(data, filename=filename, pdf_allowed=False,
                                                video_allowed=kind == IdentityEvidence.Kind.CONSENT_CAPTURE)
    evidence = IdentityEvidence(verification=verification, kind=kind, media_type=media_type)
    _seal(evidence, talent_id=verification.talent_id, folder="evidence", plaintext=plaintext, audit={
        "action": "identity.evidence_added", "actor": user_actor(acting_user), "subject": f"talent:{verification.talent_id}",
        "data": {"verification": str(verification.id), "evidence": str(evidence.id), "kind": kind}})
    return evidence


@transaction.atomic
def identity_evidence_open(*, evidence: IdentityEvidence, acting_user: AbstractBaseUser) -> bytes:
    """Decrypt evidence for a verifier deciding (or the talent reading their own); audited."""
    talent = evidence.verification.talent
    policies.enforce(policies.refuse_identity_evidence_view(user=acting_user, talent=talent))
    audit_append(action="identity.evidence_viewed", actor=user_actor(acting_user), subject=f"talent:{talent.id}",
                 data={"evidence": str(evidence.id)})
    return vault_get(talent_id=talent.id, object_ref=evidence.object_ref, name=evidence.stored_name)


def _check_birth_date(birth_date: object) -> date:
    today = timezone.localdate()
    if not isinstance(birth_date, date):
        raise ValidationFailed("Record the date of birth the identity document shows.", field="birth_date")
    if birth_date > today or birth_date < today - relativedelta(years=OLDEST_AGE):
        raise ValidationFailed("That date of birth is not possible.", field="birth_date")
    return birth_date


def _check_name(name: object, field: str) -> str:
    name = " ".join(str(name or "").split())
    if not name or len(name) > 200:
        raise ValidationFailed("Record the legal name the identity document shows.", field=field)
    return name


def _refuse_or_reject(subject: IdentityVerification | Representation, *, approve: bool, note: str,
                      acting_user: AbstractBaseUser) -> bool:
    """The checks every desk decision shares; records a rejection. True when it rejected."""
    if subject.status != subject.Status.PENDING:
        raise InvalidTransition(f"This request was already {subject.status}.")
    talent = subject.talent
    policies.enforce(policies.refuse_desk_decision(user=acting_user, talent=talent, requested_by_id=subject.requested_by_id,
                                                   representative_id=getattr(subject, "representative_id", None)))
    if approve:
        return False
    if not note.strip():
        raise ValidationFailed("Say why the request is rejected.", field="note")
    subject.status = subject.Status.REJECTED
    subject.decided_by, subject.decided_at, subject.decision_note = acting_user, timezone.now(), note.strip()
    subject.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return True


def _approve(subject: IdentityVerification | Representation, *, acting_user: AbstractBaseUser, note: str,
             facts: dict[str, Any]) -> str:
    """Record the first approval with its facts, or confirm them as the second verifier.
    Returns "first" or "approved"."""
    now = timezone.now()
    if subject.first_approved_by_id is None:
        for name, value in facts.items():
            setattr(subject, name, value)
        subject.first_approved_by, subject.first_approved_at = acting_user, now
        subject.decision_note = note.strip()
        subject.save(update_fields=[*facts, "first_approved_by", "first_approved_at", "decision_note"])
        return "first"
    policies.enforce(policies.refuse_second_approval(user=acting_user, first_approved_by_id=subject.first_approved_by_id))
    differing = [name for name, value in facts.items() if value is not None and value != getattr(subject, name)]
    if differing:
        raise ValidationFailed("What you recorded differs from the first verifier's record: reject the request if "
                               "the evidence does not establish it.", field=differing[0])
    subject.status = subject.Status.APPROVED
    subject.decided_by, subject.decided_at = acting_user, now
    if note.strip():
        subject.decision_note = "\n".join(filter(None, [subject.decision_note, note.strip()]))
    subject.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return "approved"


def _require_evidence(subject: IdentityVerification | Representation, kinds: set[str]) -> None:
    held = set(subject.evidence.filter(deleted_at__isnull=True).values_list("kind", flat=True))
    if not kinds <= held:
        raise InvalidTransition("Approve only once all the evidence is uploaded: "
                                + ", ".join(sorted(kinds - held)).replace("_", " ") + " missing.")


@transaction.atomic
def identity_verification_decide(*, verification: IdentityVerification, approve: bool, note: str = "",
                                 acting_user: AbstractBaseUser, legal_name: str | None = None,
                                 birth_date: date | None = None) -> IdentityVerification:
    """A verifier approves (the first records the legal name and date of birth, a second,
    different verifier confirms) or rejects."""
    verification.refresh_from_db(from_queryset=IdentityVerification.objects.select_for_update())
    if _refuse_or_reject(verification, approve=approve, note=note, acting_user=acting_user):
        audit_append(action="identity.verification_rejected", actor=user_actor(acting_user),
                     subject=f"talent:{verification.talent_id}", data={"verification": str(verification.id)})
        return verification
    if verification.method != IdentityVerification.Method.IN_PERSON:
        _require_evidence(verification, set(IdentityEvidence.Kind.values))
    first = verification.first_approved_by_id is None
    facts = {"legal_name": _check_name(legal_name, "legal_name") if first or legal_name else None,
             "birth_date": _check_birth_date(birth_date) if first or birth_date else None}
    step = _approve(verification, acting_user=acting_user, note=note, facts=facts)
    action = "identity.verification_first_approval" if step == "first" else "identity.verification_approved"
    audit_append(action=action, actor=user_actor(acting_user), subject=f"talent:{verification.talent_id}",
                 data={"verification": str(verification.id)})
    return verification


# --- representations ------------------------------------------------------------------------

@transaction.atomic
def representation_request(*, talent: Talent, representative: AbstractBaseUser, kind: str,
                           acting_user: AbstractBaseUser) -> Representation:
    """The talent names their guardian or agent, or the guardian or executor asks to
    represent the talent; the representative then uploads the evidence."""
    talent = Talent.objects.select_for_update().get(pk=talent.pk)
    policies.enforce(policies.refuse_representation_request(user=acting_user, talent=talent,
                                                            representative=representative, kind=kind))
    if talent_erased_at(talent=talent) is not None:
        raise InvalidTransition("This talent's data was erased.")
    if Representation.objects.filter(talent=talent, representative=representative, kind=kind,
                                     status=Representation.Status.PENDING).exists():
        raise InvalidTransition("This representation is already waiting for the verification desk.")
    representation = Representation.objects.create(talent=talent, representative=representative, kind=kind,
                                                   requested_by=acting_user, challenge_code=_challenge_code())
    audit_append(action="representation.requested", actor=user_actor(acting_user), subject=f"talent:{talent.id}",
                 data={"representation": str(representation.id), "kind": kind,
                       "representative": user_actor(representative)})
    return representation


def representation_evidence_add(*, representation: Representation, kind: str, data: bytes, filename: str,
                                acting_user: AbstractBaseUser) -> RepresentationEvidence:
    """The representative uploads their identity document, a capture with the challenge code
    and the authority document; each is checked and sealed under the talent's key."""
    policies.enforce(policies.refuse_representation_evidence_add(user=acting_user, representation=representation))
    representation.refresh_from_db(fields=["status"])
    if representation.status != Representation.Status.PENDING:
        raise InvalidTransition("This representation was already decided.")
    if kind not in RepresentationEvidence.Kind.values:
        raise ValidationFailed("Evidence is an id_document, a consent_capture or an authority document.", field="kind")
    plaintext, media_type = _evidence_plaintext(data, filename=filename,
                                                video_allowed=kind == RepresentationEvidence.Kind.CONSENT_CAPTURE,
                                                pdf_allowed=kind == RepresentationEvidence.Kind.AUTHORITY)
    evidence = RepresentationEvidence(representation=representation, kind=kind, media_type=media_type)
    _seal(evidence, talent_id=representation.talent_id, folder="representation", plaintext=plaintext, audit={
        "action": "representation.evidence_added", "actor": user_actor(acting_user),
        "subject": f"talent:{representation.talent_id}",
        "data": {"representation": str(representation.id), "evidence": str(evidence.id), "kind": kind}})
    return evidence


@transaction.atomic
def representation_evidence_open(*, evidence: RepresentationEvidence, acting_user: AbstractBaseUser) -> bytes:
    representation = evidence.representation
    policies.enforce(policies.refuse_representation_evidence_view(user=acting_user, representation=representation))
    audit_append(action="representation.evidence_viewed", actor=user_actor(acting_user),
                 subject=f"talent:{representation.talent_id}", data={"evidence": str(evidence.id)})
    return vault_get(talent_id=representation.talent_id, object_ref=evidence.object_ref, name=evidence.stored_name)


def _representation_facts(representation: Representation, *, first: bool, legal_name: str | None,
                          valid_from: date | None, valid_until: date | None,
                          talent_died_on: date | None) -> dict[str, Any]:
    """Check what a verifier records against the talent's verified facts."""
    facts = talent_facts(talent_id=representation.talent_id)
    if not facts.verified:
        raise InvalidTransition("The talent's own identity must be verified first: their date of birth decides who "
                                "may represent them.")
    today = timezone.localdate()
    if not first:
        return {"representative_legal_name": _check_name(legal_name, "legal_name") if legal_name else None,
                "valid_from": valid_from, "valid_until": valid_until, "talent_died_on": talent_died_on}
    legal_name = _check_name(legal_name, "legal_name")
    valid_from = valid_from or today
    kind = representation.kind
    if kind == Kind.ESTATE:
        if not isinstance(talent_died_on, date) or talent_died_on > today or talent_died_on < facts.birth_date:
            raise ValidationFailed("Record the date of death the death certificate shows.", field="talent_died_on")
        valid_from = max(valid_from, talent_died_on)
    elif talent_died_on is not None:
        raise ValidationFailed("A date of death is recorded only for an estate.", field="talent_died_on")
    capacity = facts.capacity_on(today)
    if kind == Kind.GUARDIAN:
        if capacity != "minor":
            raise InvalidTransition("A guardian represents a minor; the verified date of birth makes this talent "
                                    f"{capacity}.")
        adulthood = facts.birth_date + relativedelta(years=18)
        valid_until = min(valid_until, adulthood) if valid_until else adulthood
    if kind == Kind.AGENT and capacity != "adult":
        raise InvalidTransition(f"An agent acts for a living adult; this talent is {capacity}.")
    if valid_until is not None and valid_until < valid_from:
        raise ValidationFailed("The representation must end after it starts.", field="valid_until")
    return {"representative_legal_name": legal_name, "valid_from": valid_from, "valid_until": valid_until,
            "talent_died_on": talent_died_on}


@transaction.atomic
def representation_decide(*, representation: Representation, approve: bool, note: str = "",
                          acting_user: AbstractBaseUser, legal_name: str | None = None, valid_from: date | None = None,
                          valid_until: date | None = None, talent_died_on: date | None = None) -> Representation:
    """A verifier approves (the first records the representative's legal name, the validity
    and, for an estate, the date of death; a second, different verifier confirms) or rejects."""
    representation.refresh_from_db(from_queryset=Representation.objects.select_for_update())
    if _refuse_or_reject(representation, approve=approve, note=note, acting_user=acting_user):
        audit_append(action="representation.rejected", actor=user_actor(acting_user),
                     subject=f"talent:{representation.talent_id}", data={"representation": str(representation.id)})
        return representation
    _require_evidence(representation, set(RepresentationEvidence.Kind.values))
    policies.enforce(policies.refuse_representative(representative=representation.representative,
                                                    talent=representation.talent))
    facts = _representation_facts(representation, first=representation.first_approved_by_id is None,
                                  legal_name=legal_name, valid_from=valid_from, valid_until=valid_until,
                                  talent_died_on=talent_died_on)
    step = _approve(representation, acting_user=acting_user, note=note, facts=facts)
    audit_append(action="representation.first_approval" if step == "first" else "representation.approved",
                 actor=user_actor(acting_user), subject=f"talent:{representation.talent_id}",
                 data={"representation": str(representation.id), "kind": representation.kind})
    return representation


@transaction.atomic
def representation_revoke(*, representation: Representation, reason: str,
                          acting_user: AbstractBaseUser) -> Representation:
    """End a representation (the talent, the representative or a verifier): from now on it
    signs nothing, and licenses signed under it stop passing the gate."""
    representation.refresh_from_db(from_queryset=Representation.objects.select_for_update())
    policies.enforce(policies.refuse_representation_revoke(user=acting_user, representation=representation))
    if representation.status not in (Representation.Status.PENDING, Representation.Status.APPROVED):
        raise InvalidTransition(f"This representation is already {representation.status}.")
    if not reason.strip():
        raise ValidationFailed("Say why the representation ends.", field="reason")
    representation.status = Representation.Status.REVOKED
    representation.revoked_by, representation.revoked_at = acting_user, timezone.now()
    representation.revocation_reason = reason.strip()
    representation.save(update_fields=["status", "revoked_by", "revoked_at", "revocation_reason"])
    audit_append(action="representation.revoked", actor=user_actor(acting_user),
                 subject=f"talent:{representation.talent_id}", data={"representation": str(representation.id)})
    return representation
