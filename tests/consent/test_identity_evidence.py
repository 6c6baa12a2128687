"""Identity verification evidence: checked, sealed, seen only by the talent and the
platform's verifiers (audited), required to approve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit.models import AuditEvent
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from bespoke.synthetic_faces import synthetic_face_photos
from consent import desk
from consent.models import IdentityEvidence
from generation.pipeline.video import encode_mp4
from tests.conftest import ADULT_BIRTH_DATE

pytestmark = pytest.mark.django_db


def _video(tmp_path: Path, frames: int = 8) -> bytes:
    path = tmp_path / "capture.mp4"
    encode_mp4(np.full((frames, 128, 128, 3), 120, dtype=np.uint8), path, fps=8)
    return path.read_bytes()


@pytest.fixture
def pending(personas):  # type: ignore[no-untyped-def]
    return desk.identity_verification_request(talent=personas.talent, method="video_call", acting_user=personas.alice)


def test_a_verification_shows_a_challenge_code_and_needs_both_kinds_of_evidence_to_approve(personas, pending, tmp_path):
    assert len(pending.challenge_code) == 6
    with pytest.raises(InvalidTransition, match="consent capture, id document missing"):
        desk.identity_verification_decide(verification=pending, approve=True, acting_user=personas.frank,
                                          legal_name="Alice Avery", birth_date=ADULT_BIRTH_DATE)
    desk.identity_evidence_add(verification=pending, kind="id_document", data=synthetic_face_photos(1)[0],
                               filename="passport.jpg", acting_user=personas.alice)
    capture = desk.identity_evidence_add(verification=pending, kind="consent_capture", data=_video(tmp_path),
                                         filename="capture.mp4", acting_user=personas.alice)
    assert capture.media_type == "video/mp4"
    desk.identity_verification_decide(verification=pending, approve=True, note="Code spoken clearly.",
                                      acting_user=personas.frank, legal_name="Alice Avery",
                                      birth_date=ADULT_BIRTH_DATE)
    pending.refresh_from_db()
    assert pending.status == "pending" and pending.awaiting_second_approval
    desk.identity_verification_decide(verification=pending, approve=True, acting_user=personas.grace)
    pending.refresh_from_db()
    assert pending.status == "approved"
    assert (pending.first_approved_by, pending.decided_by) == (personas.frank, personas.grace)


def test_evidence_is_stored_sealed_and_opened_only_by_the_talent_and_verifiers_with_an_audit_record(
        personas, pending, settings):
    evidence = desk.identity_evidence_add(verification=pending, kind="id_document", data=synthetic_face_photos(1)[0],
                                          filename="id.jpg", acting_user=personas.alice)
    stored = next(Path(settings.MEDIA_ROOT).rglob("*.sealed")).read_bytes()
    assert not stored.startswith(b"\x89PNG") and b"JFIF" not in stored
    for outsider in (personas.bob, personas.dana, personas.erin, personas.charlie):
        with pytest.raises(NotAllowed, match="Only the talent and the platform's verifiers"):
            desk.identity_evidence_open(evidence=evidence, acting_user=outsider)
    assert not AuditEvent.objects.filter(action="identity.evidence_viewed").exists()
    assert desk.identity_evidence_open(evidence=evidence, acting_user=personas.frank).startswith(b"\x89PNG")
    assert desk.identity_evidence_open(evidence=evidence, acting_user=personas.alice).startswith(b"\x89PNG")
    viewers = [e.actor for e in AuditEvent.objects.filter(action="identity.evidence_viewed").order_by("seq")]
    assert viewers == [f"user:{personas.frank.pk}", f"user:{personas.alice.pk}"]


@pytest.mark.parametrize("kind, data, message", [
    ("id_document", b"%PDF-1.4 a scan", "Upload this as an image"),
    ("consent_capture", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "not a readable MP4 or WebM"),
    ("id_document", None, "is an image"),
    ("selfie", b"x", "id_document or a consent_capture"),
])
def test_bad_evidence_is_refused_and_stores_nothing(personas, pending, settings, tmp_path, kind, data, message):
    with pytest.raises(ValidationFailed, match=message):
        desk.identity_evidence_add(verification=pending, kind=kind, data=_video(tmp_path) if data is None else data,
                                   filename="evidence.jpg", acting_user=personas.alice)
    assert not IdentityEvidence.objects.exists()
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.sealed")) if Path(settings.MEDIA_ROOT).exists() else True


def test_only_the_talent_adds_evidence_and_only_while_pending(personas, pending):
    with pytest.raises(NotAllowed):
        desk.identity_evidence_add(verification=pending, kind="id_document", data=synthetic_face_photos(1)[0],
                                   filename="id.jpg", acting_user=personas.dana)
    desk.identity_verification_decide(verification=pending, approve=False, note="Blurry.", acting_user=personas.frank)
    with pytest.raises(InvalidTransition):
        desk.identity_evidence_add(verification=pending, kind="id_document", data=synthetic_face_photos(1)[0],
                                   filename="id.jpg", acting_user=personas.alice)


def test_no_studio_sees_identity_evidence_not_even_the_one_that_invited_the_talent_or_drafts_with_her(
        personas, pending, client, django_user_model):
    from accounts.services import totp_enrol
    from consent import selectors, services
    from consent.models import Membership

    evidence = desk.identity_evidence_add(verification=pending, kind="id_document",
                                          data=synthetic_face_photos(1)[0], filename="id.jpg",
                                          acting_user=personas.alice)
    olga = django_user_model.objects.create_user(username="olga", password="pw-olgaolga")
    services.membership_add(organization=personas.other_studio, user=olga, role=Membership.Role.LEGAL,
                            acting_user=personas.dana)
    totp_enrol(user=olga)
    totp_enrol(user=personas.dana)
    for studio_legal in (olga, personas.dana):  # Dana's studio invited Alice
        assert list(selectors.verifications_for_user(user=studio_legal)) == []
        with pytest.raises(NotAllowed):
            desk.identity_evidence_open(evidence=evidence, acting_user=studio_legal)
        with pytest.raises(NotAllowed, match="Only verifiers of the platform operator"):
            desk.identity_verification_decide(verification=pending, approve=False, note="x", acting_user=studio_legal)
        client.force_login(studio_legal)
        assert client.get(f"/api/v1/verifications/{pending.id}/").status_code == 404
        assert client.get(f"/api/v1/verifications/{pending.id}/evidence/{evidence.id}/").status_code == 404
    pending.refresh_from_db()
    assert pending.status == "pending" and pending.decided_by is None
    assert list(selectors.verifications_for_user(user=personas.grace)) == [pending]
