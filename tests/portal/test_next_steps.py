"""Each persona's next step, as their home page says it (bespoke.portal.next_steps)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from bespoke.portal.next_steps import next_steps_for_user
from consent import desk, services
from consent.models import IdentityVerification
from generation.services import render as renders
from tests.conftest import (
    ADULT_BIRTH_DATE,
    SMALL_RENDER,
    make_license,
    sign_context,
    verify_identity,
)
from tests.consent.evidence import evidence_files
from tests.portal.people import minor_and_guardian
from tests.viewers import make_viewer

pytestmark = pytest.mark.django_db


def _steps(user) -> dict[str, list]:  # type: ignore[no-untyped-def]
    steps: dict[str, list] = {}
    for step in next_steps_for_user(user=user):
        steps.setdefault(step.key, []).append(step)
    return steps


def _upload_identity_evidence(verification) -> None:  # type: ignore[no-untyped-def]
    for kind in ("id_document", "consent_capture"):
        name, data = evidence_files()[kind]
        desk.identity_evidence_add(verification=verification, kind=kind, data=data, filename=name,
                                   acting_user=verification.talent.user)


def test_a_new_talent_is_told_to_verify_then_to_upload_then_who_reviews(personas):
    alice = personas.alice
    [first] = next_steps_for_user(user=alice)
    assert (first.key, first.url) == ("verify-identity", reverse("portal-my-verification"))
    assert "verification desk" in first.detail

    verification = desk.identity_verification_request(talent=personas.talent, method="document", acting_user=alice)
    [upload] = next_steps_for_user(user=alice)
    assert upload.key == "upload-evidence" and "identity document" in upload.detail

    _upload_identity_evidence(verification)
    [review] = next_steps_for_user(user=alice)
    assert review.key == "verification-in-review"
    assert "verification desk" in review.action and "two verifiers" in review.detail

    desk.identity_verification_decide(verification=verification, approve=True, acting_user=personas.frank,
                                      legal_name="Alice Avery", birth_date=ADULT_BIRTH_DATE)
    [second] = next_steps_for_user(user=alice)
    assert second.key == "verification-in-review" and "second" in second.detail

    desk.identity_verification_decide(verification=verification, approve=True, acting_user=personas.grace)
    assert list(_steps(alice)) == ["talent-idle"]


def test_a_rejected_verification_asks_for_a_new_one(personas):
    verification = desk.identity_verification_request(talent=personas.talent, method="in_person",
                                                      acting_user=personas.alice)
    assert list(_steps(personas.alice)) == ["verification-in-review"]  # in person: nothing to upload
    desk.identity_verification_decide(verification=verification, approve=False, note="Not the same person.",
                                      acting_user=personas.frank)
    [again] = next_steps_for_user(user=personas.alice)
    assert again.key == "verify-identity" and again.action.startswith("Ask for a new")
    assert verification.status != IdentityVerification.Status.APPROVED


def test_the_license_moves_each_party_to_their_next_step(personas):
    license = make_license(personas, signed=False, countersigned=False)
    url = reverse("portal-license", args=[license.id])
    assert [s.url for s in _steps(personas.alice)["sign-license"]] == [url]
    assert "countersign" not in _steps(personas.dana)
    assert [s.url for s in _steps(personas.bob)["await-signature"]] == [url]

    license = services.license_sign(license=license, context=sign_context(license), acting_user=personas.alice)
    assert "sign-license" not in _steps(personas.alice)
    assert [s.url for s in _steps(personas.dana)["countersign"]] == [url]
    assert [s.url for s in _steps(personas.bob)["await-countersign"]] == [url]
    assert "request-render" not in _steps(personas.bob)

    services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    assert "countersign" not in _steps(personas.dana)
    assert [s.url for s in _steps(personas.bob)["request-render"]] == [url]
    assert list(_steps(personas.charlie)) == ["no-license"], "another studio's producer has nothing under it"


def test_legal_staff_are_offered_to_draft_and_to_invite(personas):
    steps = _steps(personas.dana)
    assert steps["draft-license"][0].url == reverse("portal-license-draft")
    assert steps["invite"][0].url == reverse("portal-invitations")


def test_a_verifier_sees_what_waits_in_the_desk_queue(personas):
    assert list(_steps(personas.frank)) == ["desk-empty"]
    desk.identity_verification_request(talent=personas.talent, method="in_person", acting_user=personas.alice)
    [queue] = next_steps_for_user(user=personas.frank)
    assert queue.key == "desk-queue" and queue.url == reverse("portal-desk")
    assert queue.action.startswith("1 identity verification and 0 representations")
    assert "desk-queue" not in _steps(personas.dana), "studios never see the desk"


def test_renders_waiting_for_approval_lead_the_talents_home(personas):
    license = make_license(personas, requires_use_approval=True)
    renders.render_job_request(license_id=str(license.id), prompt="sks person at the night market",
                               params=SMALL_RENDER, acting_user=personas.bob)
    client = Client()
    client.force_login(personas.alice)
    page = client.get("/").content.decode()
    assert 'data-step="approve-uses"' in page and 'href="#approvals"' in page
    assert 'data-step="talent-idle"' not in page


def test_a_viewer_is_pointed_to_the_stories(personas, django_user_model):
    vera = make_viewer(django_user_model)
    assert list(_steps(vera.user)) == ["star-in-story"]


def test_a_representative_uploads_then_waits_then_signs_for_the_talent(personas, django_user_model):
    from tests.conftest import approve_representation

    mia, gabe = minor_and_guardian(personas, django_user_model)
    representation = desk.representation_request(talent=mia, representative=gabe, kind="guardian", acting_user=gabe)
    [upload] = next_steps_for_user(user=gabe)
    assert upload.key == "representation-evidence" and "Mia Minor" in upload.action
    assert upload.url == reverse("portal-representation", args=[representation.id])
    approve_representation(personas, representation)
    assert "representation-evidence" not in _steps(gabe)

    verify_identity(personas, mia)
    draft = services.license_draft(talent=mia, licensee=personas.studio, acting_user=personas.erin, **_terms())
    license = services.license_offer(license=draft, acting_user=personas.erin)
    [sign] = _steps(gabe)["sign-license"]
    assert sign.url == reverse("portal-license", args=[license.id]) and "for Mia Minor" in sign.detail
    assert "sign-license" not in _steps(mia.user), "a minor's guardian signs, not the minor"


def _terms() -> dict[str, object]:
    from datetime import timedelta

    from django.utils import timezone

    from tests.conftest import LICENSE_TERMS

    today = timezone.localdate()
    return {**LICENSE_TERMS, "permitted_media": ["video"], "starts_on": today, "ends_on": today + timedelta(days=90),
            "max_renders": 5, "excluded_categories": ["political"]}
