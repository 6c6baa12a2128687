"""Viewers who star in interactive stories: sign-up, the face check, their own consent.

A viewer is a talent of kind VIEWER. The facts a viewer's consent rests on are not vouched
for by the studio that profits from it (invariant 7):

- who the viewer is: an account with a verified email, whose capture (a photo or short
  video showing a challenge code) and reference photos show the same person, decided by
  the platform's offline face model (consent.faces);
- their age: declared at sign-up (adults only) and signed into the consent's text;
- the consent itself: a license of kind VIEWER written by the platform from fixed terms
  (interactive video in the studio's stories, a short term) and signed by the viewer alone.
  The published story is the studio's standing offer; no studio member signs, countersigns
  or can create it.

The capture and the face descriptors are sealed under the viewer's key, used only for the
check and erased with the viewer (talent_erase destroys the key and deletes the files).
"""

from __future__ import annotations

import io
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import av
import numpy as np
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.actors import user_actor
from audit.services import audit_append
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.locking import Rank, claim
from consent import faces
from consent.facts import ADULT_AGE, viewer_face_checked
from consent.lifecycle import next_status
from consent.models import FaceCheck, LikenessLicense, Membership, Organization, ReferencePhoto, TalentKey, Talent
from consent.services import SignatureContext, _move, _record_signature
from consent.terms import LicenseTerms, render_license_text, text_sha256
from consent.uploads import prepare_image, prepare_video
from consent.vault import vault_delete, vault_get, vault_put

logger = logging.getLogger(__name__)

CHALLENGE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or held up
CHALLENGE_LENGTH = 6
CAPTURE_FRAMES = 5  # frames sampled from a video capture, evenly over its length
MAX_PHOTOS_COMPARED = 8
VIEWER_MAX_RENDERS = 500


def min_photos() -> int:
    """Photos a viewer adds before the capture: as many as training their likeness model needs."""
    return settings.BESPOKE_TRAINING_MIN_PHOTOS


class Scope:
    STORY = "story"
    STUDIO = "studio"


@transaction.atomic
def viewer_register(*, user: AbstractBaseUser, display_name: str, birth_date: date,
                    acting_user: AbstractBaseUser) -> Talent:
    """Make a signed-up account a viewer. Only adults star in stories: a viewer declares
    their date of birth, and the declaration is written into every consent they sign."""
    display_name = " ".join((display_name or "").split())
    if not display_name:
        raise ValidationFailed("Say how the stories should name you.", field="display_name")
    if len(display_name) > Talent._meta.get_field("display_name").max_length:
        raise ValidationFailed("The name is too long.", field="display_name")
    today = timezone.localdate()
    if not isinstance(birth_date, date) or birth_date > today:
        raise ValidationFailed("Give your date of birth.", field="birth_date")
    if birth_date + relativedelta(years=ADULT_AGE) > today:
        raise ValidationFailed(f"Only adults ({ADULT_AGE} or older) can star in stories.", field="birth_date")
    if Talent.objects.filter(user=user).exists():
        raise ValidationFailed("This account already has a likeness profile.", field="user")
    if Membership.objects.filter(user=user).exists():
        raise NotAllowed("Studio and operator accounts cannot star in stories; sign up with a personal account.")
    talent = Talent.objects.create(user=user, display_name=display_name, kind=Talent.Kind.VIEWER,
                                   declared_birth_date=birth_date)
    audit_append(action="viewer.registered", actor=user_actor(acting_user), subject=f"talent:{talent.id}",
                 data={"user": user_actor(user)})
    return talent


def _viewer_of(user: AbstractBaseUser) -> Talent:
    talent = Talent.objects.filter(user=user, kind=Talent.Kind.VIEWER).first()
    if talent is None:
        raise NotAllowed("Only a viewer account can do this.", code="not_found")
    return talent


def face_check_start(*, acting_user: AbstractBaseUser) -> FaceCheck:
    """The viewer's current challenge: the pending check, or a new one with a fresh code."""
    talent = _viewer_of(acting_user)
    with transaction.atomic():
        pending = FaceCheck.objects.select_for_update().filter(talent=talent, status=FaceCheck.Status.PENDING).first()
        if pending is not None:
            return pending
        code = "".join(secrets.choice(CHALLENGE_ALPHABET) for _ in range(CHALLENGE_LENGTH))
        check = FaceCheck.objects.create(talent=talent, challenge_code=code)
        audit_append(action="viewer.face_check_started", actor=user_actor(acting_user), subject=f"talent:{talent.id}",
                     data={"face_check": str(check.id)})
        return check


@dataclass(frozen=True)
class _Capture:
    sealed_bytes: bytes
    media_type: str
    frames: list[np.ndarray]


def _capture_read(data: bytes, filename: str) -> _Capture:
    """A photo (re-encoded PNG) or a short video (re-encoded MP4) and the frames to look for the face in."""
    head = data[:64]
    is_video = b"ftyp" in head[:16] or head.startswith(b"\x1a\x45\xdf\xa3")  # MP4/MOV, Matroska/WebM
    if not is_video:
        prepared = prepare_image(data, filename=filename, max_bytes=settings.BESPOKE_PHOTO_MAX_BYTES,
                                 max_pixels=settings.BESPOKE_PHOTO_MAX_PIXELS,
                                 min_side=settings.BESPOKE_PHOTO_MIN_SIDE, field="capture")
        return _Capture(prepared.png, "image/png", [faces.rgb_from_bytes(prepared.png)])
    video = prepare_video(data, max_bytes=settings.BESPOKE_EVIDENCE_MAX_BYTES,
                          max_seconds=settings.BESPOKE_EVIDENCE_MAX_SECONDS, field="capture")
    with av.open(io.BytesIO(video)) as container:
        total = container.streams.video[0].frames  # the re-encoded MP4 states its frame count
    picks = {round(i * (total - 1) / max(1, CAPTURE_FRAMES - 1)) for i in range(CAPTURE_FRAMES)} if total else {0}
    frames = []
    with av.open(io.BytesIO(video)) as container:  # only the sampled frames are kept: a minute is 1,800 of them
        for index, frame in enumerate(container.decode(video=0)):
            if index in picks:
                frames.append(frame.to_ndarray(format="rgb24"))
            if index >= max(picks):
                break
    if not frames:
        raise ValidationFailed("The video has no frames.", field="capture")
    return _Capture(video, "video/mp4", frames)


def _descriptors(frames: list[np.ndarray], *, what: str, field: str) -> list[np.ndarray]:
    found, last_error = [], ""
    for frame in frames:
        try:
            found.append(faces.face_descriptor(frame))
        except faces.FaceError as error:
            last_error = str(error)
    if not found:
        raise ValidationFailed(f"{what}: {last_error or 'no face found.'}", field=field)
    return found


def face_check_submit(*, capture: bytes, filename: str, acting_user: AbstractBaseUser) -> FaceCheck:
    """Check the capture against the viewer's reference photos.

    Same person: the check passes, and the capture and the descriptors are kept sealed.
    Otherwise the capture is refused with the reason, nothing is stored, and the refusal
    is audited (with the distance, never the face)."""
    talent = _viewer_of(acting_user)
    check = face_check_start(acting_user=acting_user)
    if TalentKey.objects.filter(talent=talent, destroyed_at__isnull=False).exists():
        raise InvalidTransition("This viewer's data was erased.")
    # The newest photos, as many as training needs and a few more: each costs a face search.
    photos = list(ReferencePhoto.objects.filter(talent=talent, deleted_at__isnull=True)
                  .order_by("-created_at")[:MAX_PHOTOS_COMPARED])
    if len(photos) < min_photos():
        raise InvalidTransition(f"Add at least {min_photos()} photos of yourself before the capture.",
                                code="photos_missing")
    read = _capture_read(capture, filename)
    probes = _descriptors(read.frames, what="The capture shows no usable face", field="capture")
    references = _descriptors(
        [faces.rgb_from_bytes(vault_get(talent_id=talent.id, object_ref=photo.object_ref, name=photo.stored_name))
         for photo in photos], what="Your photos show no usable face", field="photos")
    match = faces.faces_match(references, probes)
    actor = user_actor(acting_user)
    if not match.same_person:
        with transaction.atomic():
            audit_append(action="viewer.face_check_refused", actor=actor, subject=f"talent:{talent.id}",
                         data={"face_check": str(check.id), "distance": round(match.distance, 3),
                               "threshold": match.threshold})
        raise ValidationFailed("The capture and your photos do not show the same person (face distance "
                               f"{match.distance:.2f}, at most {match.threshold:.2f} passes). Record the capture "
                               "yourself, face to the camera, and upload photos of yourself only.",
                               code="faces_differ", field="capture")
    sealed_names: list[str] = []
    try:
        with transaction.atomic():
            check = FaceCheck.objects.select_for_update().get(pk=check.pk)
            if check.status != FaceCheck.Status.PENDING:
                raise InvalidTransition("This check was already decided; start again.")
            sealed_names.append(vault_put(talent_id=talent.id, object_ref=check.capture_ref,
                                          plaintext=read.sealed_bytes,
                                          name=f"likeness/{talent.id}/face_checks/{check.id}.capture.sealed"))
            sealed_names.append(vault_put(talent_id=talent.id, object_ref=check.descriptors_ref,
                                          plaintext=b"".join(faces.descriptor_bytes(d) for d in references + probes),
                                          name=f"likeness/{talent.id}/face_checks/{check.id}.faces.sealed"))
            check.capture_stored_name, check.descriptors_stored_name = sealed_names
            check.capture_media_type = read.media_type
            check.status, check.checked_at = FaceCheck.Status.PASSED, timezone.now()
            check.distance, check.photos_compared = match.distance, len(references)
            check.save()
            audit_append(action="viewer.face_check_passed", actor=actor, subject=f"talent:{talent.id}",
                         data={"face_check": str(check.id), "distance": round(match.distance, 3),
                               "photos": len(references), "capture_frames": len(probes)})
    except BaseException:
        for name in sealed_names:
            vault_delete(name)
        raise
    return check


@dataclass(frozen=True)
class StandingOffer:
    """A published story's offer to its viewers, as the stories app states it."""

    licensee: Organization
    story_id: str
    story_title: str


def viewer_license_terms(offer: StandingOffer, *, scope: str, starts_on: date,
                         requires_use_approval: bool = False) -> dict:
    """The fixed terms of a viewer's consent: interactive video in this story (or in the studio's
    stories), a likeness model for it, the sensitive categories excluded, a short term, and, if the
    viewer asks it, their approval of each scene before it renders (scenes then wait for it)."""
    if scope not in (Scope.STORY, Scope.STUDIO):
        raise ValidationFailed("Choose this story or all of the studio's stories.", field="scope")
    where = (f"the interactive story \"{offer.story_title}\"" if scope == Scope.STORY
             else f"the interactive stories {offer.licensee.name} publishes")
    from consent.content_policy import CATEGORIES

    return {
        "project": f"Interactive story: {offer.story_title}" if scope == Scope.STORY
        else f"{offer.licensee.name} interactive stories",
        "role": "The viewer, starring as themself",
        "use_description": (f"The viewer's likeness is rendered as the lead of {where}, only in scenes of a playthrough "
                            "the viewer plays and steers themself, and in the signed cut of that playthrough kept "
                            "for the viewer. A likeness model is trained from the viewer's photos for this use only "
                            "and destroyed when this consent ends."),
        "permitted_media": [LikenessLicense.Medium.VIDEO], "territories": ["worldwide"], "languages": ["en"],
        "dubbing": False, "advertising": False, "interactive": True, "derivatives": False,
        "allows_likeness_model": True, "excluded_categories": sorted(CATEGORIES), "excluded_uses": [],
        "requires_use_approval": bool(requires_use_approval), "max_renders": VIEWER_MAX_RENDERS,
        "starts_on": starts_on, "ends_on": starts_on + timedelta(days=settings.BESPOKE_VIEWER_CONSENT_DAYS),
        "representation": LikenessLicense._meta.get_field("representation").default,
        "representation_detail": "", "compensation_basis": "flat", "compensation_rate": Decimal("0.00"),
        "compensation_currency": "EUR",
    }


def viewer_license_text(*, talent: Talent, offer: StandingOffer, scope: str, requires_use_approval: bool = False) -> str:
    """The exact text the viewer is shown and signs (its hash binds the signature)."""
    terms = viewer_license_terms(offer, scope=scope, starts_on=timezone.localdate(),
                                 requires_use_approval=requires_use_approval)
    return render_license_text(LicenseTerms(
        talent_name=talent.display_name, licensee_name=offer.licensee.name, version=1,
        capacity=LikenessLicense.Capacity.ADULT,
        **{k: v for k, v in terms.items() if k in LicenseTerms.__dataclass_fields__}))


def viewer_license_sign(*, offer: StandingOffer, scope: str, context: SignatureContext,
                        acting_user: AbstractBaseUser, requires_use_approval: bool = False) -> LikenessLicense:
    """The viewer's own consent: written from the fixed terms and signed by the viewer in one
    step, after their face check passed. In force from today for BESPOKE_VIEWER_CONSENT_DAYS
    days, revocable at any moment."""
    talent = _viewer_of(acting_user)
    if not viewer_face_checked(talent_id=talent.id):
        raise InvalidTransition("Check your face first: upload your photos and the capture with your code.",
                                code="face_check_missing")
    if Membership.objects.filter(user=acting_user, organization=offer.licensee).exists():
        raise NotAllowed("A member of the studio cannot star in its own stories as a viewer.")
    actor = user_actor(acting_user)
    with transaction.atomic():
        claim(Rank.TALENT, rows=[talent.pk])
        Talent.objects.select_for_update().get(pk=talent.pk)
        terms = viewer_license_terms(offer, scope=scope, starts_on=timezone.localdate(),
                                     requires_use_approval=requires_use_approval)
        text = viewer_license_text(talent=talent, offer=offer, scope=scope, requires_use_approval=requires_use_approval)
        signed = LikenessLicense.objects.filter(  # the same consent sent twice (a double click) is signed once
            talent=talent, kind=LikenessLicense.Kind.VIEWER, licensee=offer.licensee,
            status=LikenessLicense.Status.SIGNED, text_sha256=text_sha256(text)).first()
        if signed is not None:
            return signed
        license = LikenessLicense.objects.create(
            talent=talent, licensee=offer.licensee, kind=LikenessLicense.Kind.VIEWER,
            scope_story_id=uuid.UUID(offer.story_id) if scope == Scope.STORY else None, text=text, text_sha256=text_sha256(text),
            drafted_by=acting_user, capacity=LikenessLicense.Capacity.ADULT,
            talent_birth_date=talent.declared_birth_date, status=LikenessLicense.Status.OFFERED, **terms)
        audit_append(action="license.drafted", actor=actor, subject=f"license:{license.id}",
                     data={"talent": str(talent.id), "licensee": str(offer.licensee.id), "version": 1,
                           "kind": license.kind, "story": offer.story_id if scope == Scope.STORY else None,
                           "text_sha256": license.text_sha256})
        next_status(license, "sign")
        _record_signature(license, "talent", context, acting_user, intent="I consent to star in this story")
        license.signed_by = acting_user
        license.save(update_fields=["signed_by"])
        _move(license, "sign", actor, {"role": "talent", "text_sha256": license.text_sha256,
                                       "authentication": context.authentication_method, "kind": license.kind})
    return license


def viewer_licenses_for_story(*, talent: Talent, licensee_id: object, story_id: object) -> list[LikenessLicense]:
    """The viewer's signed consents that cover this story, newest first (the gate still decides)."""
    from django.db.models import Q

    return list(LikenessLicense.objects.filter(
        talent=talent, kind=LikenessLicense.Kind.VIEWER, licensee_id=licensee_id, status=LikenessLicense.Status.SIGNED)
        .filter(Q(scope_story_id=story_id) | Q(scope_story_id__isnull=True)).order_by("-created_at"))
