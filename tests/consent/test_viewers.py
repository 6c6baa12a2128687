"""A viewer's own consent: Vera signs up, her capture and photos are checked by the platform's
face model, she signs a consent the studio can neither write nor countersign, and the gate
holds it to the story she plays.

Only two real people are available offline: Eileen Collins (scikit-image's astronaut) plays
Vera, and Grace Hopper (matplotlib's sample photo) is "someone else". The refusal test covers
exactly that pair, with Vera's real photos and a capture of Hopper."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from audit.models import AuditEvent
from consent import gate
from consent import services as consent_services
from consent.models import FaceCheck, LikenessLicense
from consent.viewers import StandingOffer, face_check_start, face_check_submit, viewer_license_sign, viewer_register
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from tests.conftest import make_license, sign_context
from tests.viewers import ASTRONAUT, HOPPER, add_photos, jpeg, make_viewer, pass_face_check, published_story, viewer_consent

pytestmark = pytest.mark.django_db


@pytest.fixture
def story(personas):  # type: ignore[no-untyped-def]
    return published_story(personas, make_license(personas, interactive=True))


@pytest.fixture
def vera(django_user_model):  # type: ignore[no-untyped-def]
    return make_viewer(django_user_model)


def _use(license, story_id, *, interactive: bool = True) -> gate.UseRequest:  # type: ignore[no-untyped-def]
    return gate.UseRequest(license_id=str(license.id), medium="video", prompt="a harbour at dawn",
                           interactive=interactive, story_id=str(story_id) if story_id else None)


def _decide(license, story_id, **kw):  # type: ignore[no-untyped-def]
    return gate.check(use=_use(license, story_id, **kw), stage=gate.Stage.REQUEST, actor="test", subject="test")


def test_only_adults_sign_up_as_viewers_and_studio_staff_cannot(django_user_model, personas):
    teen = django_user_model.objects.create_user(username="teen", password="pw-teen-teen")
    today = timezone.localdate()
    with pytest.raises(ValidationFailed) as error:
        viewer_register(user=teen, display_name="Teen", birth_date=today.replace(year=today.year - 17),
                        acting_user=teen)
    assert error.value.field == "birth_date"
    with pytest.raises(NotAllowed):
        viewer_register(user=personas.bob, display_name="Bob", birth_date=date(1980, 1, 1), acting_user=personas.bob)
    assert not hasattr(teen, "talent") or teen.talent is None


def test_the_capture_and_the_photos_of_one_person_pass_and_stay_sealed(vera):
    check = pass_face_check(vera)
    assert check.status == FaceCheck.Status.PASSED and check.distance < 0.6
    assert check.challenge_code and len(check.challenge_code) == 6
    for name in (check.capture_stored_name, check.descriptors_stored_name):
        with default_storage.open(name, "rb") as handle:
            sealed = handle.read()
        assert b"\x89PNG" not in sealed and len(sealed) > 512  # sealed, not the image or the raw descriptors
    assert AuditEvent.objects.filter(action="viewer.face_check_passed", subject=f"talent:{vera.id}").exists()


def test_a_capture_of_someone_else_is_refused_with_the_reason_and_nothing_is_stored(vera):
    add_photos(vera)
    check = face_check_start(acting_user=vera.user)
    with pytest.raises(ValidationFailed) as error:
        face_check_submit(capture=jpeg(HOPPER), filename="capture.jpg", acting_user=vera.user)
    assert error.value.code == "faces_differ" and "not show the same person" in error.value.message
    check.refresh_from_db()
    assert check.status == FaceCheck.Status.PENDING and not check.capture_stored_name
    refused = AuditEvent.objects.get(action="viewer.face_check_refused", subject=f"talent:{vera.id}")
    assert json.loads(refused.body)["data"]["distance"] >= 0.6


def test_photos_of_someone_else_are_refused_against_the_viewers_capture(vera):
    add_photos(vera, face=HOPPER)
    with pytest.raises(ValidationFailed) as error:
        face_check_submit(capture=jpeg(ASTRONAUT), filename="c.jpg",
                          acting_user=vera.user)
    assert error.value.code == "faces_differ"


def test_a_capture_without_photos_or_without_a_face_is_refused(vera):
    with pytest.raises(InvalidTransition):
        face_check_submit(capture=jpeg(HOPPER), filename="capture.jpg", acting_user=vera.user)
    add_photos(vera)
    blank = jpeg(np.full((300, 300, 3), 128, dtype=np.uint8))
    with pytest.raises(ValidationFailed) as error:
        face_check_submit(capture=blank, filename="capture.jpg", acting_user=vera.user)
    assert error.value.field == "capture" and "no usable face" in error.value.message


def test_the_consent_needs_the_face_check_and_is_in_force_once_the_viewer_signs(vera, story):
    with pytest.raises(InvalidTransition):
        viewer_consent(vera, story)
    pass_face_check(vera)
    license = viewer_consent(vera, story)
    assert license.kind == LikenessLicense.Kind.VIEWER and license.status == LikenessLicense.Status.SIGNED
    assert license.countersigned_by_id is None and license.signed_by_id == vera.user_id
    assert license.interactive and license.allows_likeness_model and license.scope_story_id == story.id
    assert (license.ends_on - license.starts_on).days == 30
    assert _decide(license, story.id).allowed
    assert gate.consent_status(license_id=str(license.id)).state == "active"


def test_the_gate_holds_a_viewers_consent_to_the_story_and_to_interactive_use(vera, story):
    pass_face_check(vera)
    license = viewer_consent(vera, story)
    assert _decide(license, None, interactive=False).reason == gate.Reason.OUTSIDE_STORY_SCOPE
    assert _decide(license, story.id, interactive=False).reason == gate.Reason.OUTSIDE_STORY_SCOPE
    assert _decide(license, uuid.uuid4()).reason == gate.Reason.OUTSIDE_STORY_SCOPE
    studio_wide = viewer_consent(vera, story, scope="studio")
    assert studio_wide.scope_story_id is None and _decide(studio_wide, uuid.uuid4()).allowed


def test_the_studio_can_neither_write_nor_countersign_nor_use_a_viewers_consent(vera, story, personas):
    pass_face_check(vera)
    offer = StandingOffer(licensee=personas.studio, story_id=str(story.id), story_title=story.title)
    with pytest.raises(NotAllowed):  # Bob is not a viewer: he cannot consent in anyone's name
        viewer_license_sign(offer=offer, scope="story",
                            context=consent_services.SignatureContext(
                                text_sha256_seen="0" * 64, disclosure_accepted=True,
                                authentication_method="password"), acting_user=personas.bob)
    license = viewer_consent(vera, story)
    with pytest.raises(NotAllowed):
        consent_services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    assert gate.requester_may_request(user_id=vera.user_id, license_id=str(license.id))
    assert not gate.requester_may_request(user_id=personas.bob.pk, license_id=str(license.id))


def test_an_edited_text_or_a_viewer_who_joined_the_studio_refuses(vera, story, personas):
    pass_face_check(vera)
    license = viewer_consent(vera, story)
    LikenessLicense.objects.filter(pk=license.pk).update(text=license.text + " Also advertising.")
    assert _decide(license, story.id).reason == gate.Reason.TEXT_CHANGED
    LikenessLicense.objects.filter(pk=license.pk).update(text=license.text)
    consent_services.membership_add(organization=personas.studio, user=vera.user, role="producer",
                                    acting_user=personas.dana)
    assert _decide(license, story.id).reason == gate.Reason.TALENT_SIDE_NOT_IN_FORCE


def test_revoking_or_outliving_the_consent_refuses(vera, story):
    pass_face_check(vera)
    license = viewer_consent(vera, story)
    consent_services.license_revoke(license=license, reason="changed my mind", acting_user=vera.user)
    assert _decide(license, story.id).reason == gate.Reason.REVOKED
    other = viewer_consent(vera, story)
    later = other.ends_on + timedelta(days=1)
    assert consent_services.licenses_expire(actor="test", today=later) == [str(other.id)]
    other.refresh_from_db()
    assert other.status == LikenessLicense.Status.EXPIRED


def test_erasing_the_viewer_erases_the_capture_and_the_face_descriptors(vera, story):
    check = pass_face_check(vera)
    names = [check.capture_stored_name, check.descriptors_stored_name]
    license = viewer_consent(vera, story)
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        consent_services.talent_erase(talent=vera, acting_user=vera.user)
    check.refresh_from_db()
    assert check.status == FaceCheck.Status.ERASED and not check.capture_stored_name
    assert not any(default_storage.exists(name) for name in names)
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.REVOKED


def test_a_video_capture_is_checked_on_a_few_sampled_frames(vera, monkeypatch, tmp_path):
    from PIL import Image

    from consent import viewers
    from generation.pipeline.video import encode_mp4

    add_photos(vera)
    frames = np.stack([np.asarray(Image.fromarray(ASTRONAUT).resize((256, 256)))] * 40)
    path = tmp_path / "capture.mp4"
    encode_mp4(frames, path, fps=10)
    seen = []
    real = viewers.faces.face_descriptor
    monkeypatch.setattr(viewers.faces, "face_descriptor", lambda rgb: seen.append(rgb.shape) or real(rgb))
    check = face_check_submit(capture=path.read_bytes(), filename="capture.mp4", acting_user=vera.user)
    assert check.status == FaceCheck.Status.PASSED and check.capture_media_type == "video/mp4"
    assert len(seen) == viewers.CAPTURE_FRAMES + 4  # five frames of the capture, then the four photos


def test_the_same_consent_sent_twice_is_signed_once(vera, story):
    pass_face_check(vera)
    assert viewer_consent(vera, story).pk == viewer_consent(vera, story).pk
    assert LikenessLicense.objects.filter(talent=vera).count() == 1
