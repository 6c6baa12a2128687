"""Identity verification evidence: checked, sealed, seen only by legal (audited), required to approve."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from audit.models import AuditEvent
from bespoke.errors import InvalidTransition, NotAllowed, ValidationFailed
from bespoke.synthetic_faces import synthetic_face_photos
from consent import services
from consent.models import IdentityEvidence
from generation.pipeline.video import encode_mp4

pytestmark = pytest.mark.django_db


def _video(tmp_path: Path, frames: int = 8) -> bytes:
    path = tmp_path / "capture.mp4"
    encode_mp4(np.full((frames, 128, 128, 3), 120, dtype=np.uint8), path, fps=8)
    return path.read_bytes()


@pytest.fixture
def pending(personas):  # type: ignore[no-untyped-def]
    return services.identity_verification_request(talent=personas.talent, method="video_call", acting_user=personas.alice)


def test_a_verification_shows_a_challenge_code_and_needs_both_kinds_of_evidence_to_approve(personas, pending, tmp_path):
    assert len(pending.challenge_code) == 6
    with pytest.raises(InvalidTransition, match="identity document and a consent capture"):
        services.identity_verification_decide(verification=pending, approve=True, note="", acting_user=personas.dana)
    services.identity_evidence_add(verification=pending, kind="id_document", data=synthetic_face_photos(1)[0],
                                   filename="passport.jpg", acting_user=personas.alice)
    capture = services.identity_evidence_add(verification=pending, kind="consent_capture", data=_video(tmp_path),
                                             filename="capture.mp4", acting_user=personas.alice)
    assert capture.media_type == "video/mp4"
    services.identity_verification_decide(verification=pending, approve=True, note="Code spoken clearly.",
                                          acting_user=personas.dana)
    pending.refresh_from_db()
    assert pending.status == "approved"


def test_evidence_is_stored_sealed_and_opened_only_by_legal_with_an_audit_record(personas, pending, settings):
    evidence = services.identity_evidence_add(verification=pending, kind="id_document", data=synthetic_face_photos(1)[0],
                                              filename="id.jpg", acting_user=personas.alice)
    stored = next(Path(settings.MEDIA_ROOT).rglob("*.sealed")).read_bytes()
    assert not stored.startswith(b"\x89PNG") and b"JFIF" not in stored
    for outsider in (personas.bob, personas.alice):
        with pytest.raises(NotAllowed):
            services.identity_evidence_open(evidence=evidence, acting_user=outsider)
    assert services.identity_evidence_open(evidence=evidence, acting_user=personas.erin).startswith(b"\x89PNG")
    assert AuditEvent.objects.filter(action="identity.evidence_viewed").count() == 1


@pytest.mark.parametrize("kind, data, message", [
    ("id_document", b"%PDF-1.4 a scan", "not a JPEG, PNG or WebP"),
    ("consent_capture", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "not a readable MP4 or WebM"),
    ("id_document", None, "identity document is an image"),
    ("selfie", b"x", "id_document or a consent_capture"),
])
def test_bad_evidence_is_refused_and_stores_nothing(personas, pending, settings, tmp_path, kind, data, message):
    with pytest.raises(ValidationFailed, match=message):
        services.identity_evidence_add(verification=pending, kind=kind, data=_video(tmp_path) if data is None else data,
                                       filename="evidence.jpg", acting_user=personas.alice)
    assert not IdentityEvidence.objects.exists()
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.sealed")) if Path(settings.MEDIA_ROOT).exists() else True


def test_only_the_talent_adds_evidence_and_only_while_pending(personas, pending):
    with pytest.raises(NotAllowed):
        services.identity_evidence_add(verification=pending, kind="id_document", data=synthetic_face_photos(1)[0],
                                       filename="id.jpg", acting_user=personas.dana)
    services.identity_verification_decide(verification=pending, approve=False, note="Blurry.", acting_user=personas.dana)
    with pytest.raises(InvalidTransition):
        services.identity_evidence_add(verification=pending, kind="id_document", data=synthetic_face_photos(1)[0],
                                       filename="id.jpg", acting_user=personas.alice)


def test_another_studios_legal_staff_never_see_a_talents_identity_until_they_work_together(
        personas, pending, client, django_user_model):
    from django.urls import reverse

    from accounts.services import totp_enrol
    from consent import selectors
    from consent.models import Membership
    from tests.conftest import LICENSE_TERMS, make_license

    evidence = services.identity_evidence_add(verification=pending, kind="id_document",
                                              data=synthetic_face_photos(1)[0], filename="id.jpg",
                                              acting_user=personas.alice)
    olga = django_user_model.objects.create_user(username="olga", password="pw-olgaolga")
    services.membership_add(organization=personas.other_studio, user=olga, role=Membership.Role.LEGAL,
                            acting_user=personas.dana)
    assert list(selectors.verifications_for_user(user=olga)) == []
    with pytest.raises(NotAllowed):
        services.identity_evidence_open(evidence=evidence, acting_user=olga)
    with pytest.raises(NotAllowed):
        services.identity_verification_decide(verification=pending, approve=False, note="", acting_user=olga)
    totp_enrol(user=olga)
    client.force_login(olga)
    page = reverse("portal-verification", kwargs={"verification_id": pending.id})
    assert client.get(page).status_code == 404
    assert client.get(f"/api/v1/verifications/{pending.id}/").status_code == 404
    assert list(selectors.verifications_for_user(user=personas.dana)) == [pending]  # the studio that invited her

    make_license(personas, verified=False, offered=False, signed=False, countersigned=False)  # with Northlight
    assert list(selectors.verifications_for_user(user=olga)) == []
    today = timezone.localdate()
    services.license_draft(talent=personas.talent, licensee=personas.other_studio, acting_user=olga,
                           **{**LICENSE_TERMS, "permitted_media": ["video"], "starts_on": today,
                              "ends_on": today + timedelta(days=30), "max_renders": 1})
    assert list(selectors.verifications_for_user(user=olga)) == [pending]  # Harbour now works with her
