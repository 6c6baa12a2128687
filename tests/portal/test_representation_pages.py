"""Representations in the portal, and what a license says about who signs for the talent.

A talent names their guardian or agent; a guardian asks to represent a minor and uploads
their evidence; the desk approves; the guardian signs the license on the license page,
and the minor can still revoke it. A studio drafting a license has no field for the
talent's capacity or a representative, and a forged one changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from bespoke.templatetags.readable import day_text
from consent import license_terms, services
from consent.models import LikenessLicense, Representation
from tests.conftest import sign_context, verify_identity
from tests.portal.people import field_errors, minor_and_guardian, signed_in, stepped_up, text, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_cache(empty_cache):  # type: ignore[no-untyped-def]
    """Used TOTP codes and rate-limit counters live in the cache: each test starts empty."""


def _draft_post(personas, talent, **changes: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    data: dict[str, object] = {
        "licensee": str(personas.studio.id), "talent": str(talent.id), "project": "School Play", "role": "Puck",
        "use_description": "The role of Puck in the school play film: stage scenes and close-ups.",
        "permitted_media": ["video"], "territories": "FR", "languages": "en", "max_renders": "3",
        "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=90)).isoformat(),
        "representation": "none", "compensation_basis": "flat", "compensation_rate": "800",
        "compensation_currency": "EUR", "offer": "on",
    }
    data.update(changes)
    return data


# --- drafting: the desk's facts, never the studio's ----------------------------------------------

def test_the_draft_page_has_no_field_for_capacity_birth_date_or_representative(personas, django_user_model):
    mia, _ = minor_and_guardian(personas, django_user_model)
    dana = signed_in(personas.dana)
    page = text(dana.get(reverse("portal-license-draft"), {"talent": mia.id}))
    for name in ("capacity", "talent_birth_date", "representative"):
        assert f'name="{name}"' not in page, name
    assert "come from the platform's verification desk, not from this form" in page
    assert "a minor" in page and "No verified guardian of a minor is on file for this talent" in page
    birth_date = mia.verifications.get().birth_date
    assert birth_date.isoformat() not in page and day_text(birth_date) not in page, "a studio never sees the date of birth"
    page = text(dana.get(reverse("portal-license-draft"), {"talent": personas.talent.id}))
    assert "not verified yet" in page


@pytest.mark.parametrize("forged", [{"representative": "dana"}, {"capacity": "minor"},
                                    {"representative": "dana", "capacity": "minor"},
                                    {"talent_birth_date": "2015-01-01"}])
def test_a_forged_post_naming_a_representative_or_capacity_changes_nothing(personas, forged):
    verify_identity(personas, personas.talent)
    before = AuditEvent.objects.count()
    response = signed_in(personas.dana).post(reverse("portal-license-draft"),
                                             _draft_post(personas, personas.talent, **forged))
    assert response.status_code == 400
    assert license_terms.DESK_FACTS_REFUSAL in text(response)
    assert not LikenessLicense.objects.exists() and AuditEvent.objects.count() == before


def test_drafting_for_an_unverified_talent_is_explained_beside_the_talent(personas):
    response = signed_in(personas.dana).post(reverse("portal-license-draft"), _draft_post(personas, personas.talent))
    assert response.status_code == 400
    assert "verification desk has verified the talent's identity" in field_errors(text(response), "talent")
    assert not LikenessLicense.objects.exists()


def test_the_license_page_says_an_adult_signs_themself(personas):
    from tests.conftest import make_license

    license = make_license(personas, signed=False, countersigned=False)
    for user in (personas.alice, personas.dana, personas.bob):
        page = text(signed_in(user).get(reverse("portal-license", args=[license.id])))
        assert "Who signs for the talent" in page and "The talent is a verified adult and signs themself." in page
    alice = text(signed_in(personas.alice).get(reverse("portal-license", args=[license.id])))
    assert reverse("portal-license-sign", args=[license.id]) in alice
    dana = text(signed_in(personas.dana).get(reverse("portal-license", args=[license.id])))
    assert reverse("portal-license-sign", args=[license.id]) not in dana
    bob = text(signed_in(personas.bob).get(reverse("portal-license", args=[license.id])))
    assert reverse("portal-license-revoke", args=[license.id]) not in bob


# --- the guardian flow, end to end through the portal --------------------------------------------

def test_a_guardian_is_verified_by_two_verifiers_then_signs_for_the_minor_who_can_still_revoke(
        personas, django_user_model):
    mia, gabe_user = minor_and_guardian(personas, django_user_model)

    # The guardian asks and uploads their evidence.
    gabe = stepped_up(gabe_user)
    response = gabe.post(reverse("portal-representations"), {"kind": "guardian", "talent_username": "mia"})
    representation = Representation.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("portal-representation",
                                                                           args=[representation.id])
    page = text(gabe.get(response["Location"]))
    assert representation.challenge_code in page and "Still needed" in page
    for kind in ("id_document", "consent_capture", "authority"):
        assert gabe.post(response["Location"], upload(kind)).status_code == 302, kind
    page = text(gabe.get(response["Location"]))
    assert "All the evidence is in" in page and page.count(f"/representations/{representation.id}/evidence/") == 3

    # Before the desk decides, the draft page says no guardian is on file.
    dana = stepped_up(personas.dana)
    assert "No verified guardian" in text(dana.get(reverse("portal-license-draft"), {"talent": mia.id}))

    # Two verifiers approve.
    desk_url = reverse("portal-desk-representation", args=[representation.id])
    assert stepped_up(personas.frank).post(desk_url, {"decision": "approve",
                                                      "legal_name": "Gabriel Example"}).status_code == 302
    assert stepped_up(personas.grace).post(desk_url, {"decision": "approve"}).status_code == 302
    representation.refresh_from_db()
    assert representation.status == Representation.Status.APPROVED

    # The studio drafts for the minor: capacity and signer come from the desk.
    page = text(dana.get(reverse("portal-license-draft"), {"talent": mia.id}))
    assert "The verified guardian of a minor on file signs" in page and "Gabriel Example" in page
    response = dana.post(reverse("portal-license-draft"), _draft_post(personas, mia))
    license = LikenessLicense.objects.get()
    assert response.status_code == 302 and license.capacity == LikenessLicense.Capacity.MINOR
    assert license.status == LikenessLicense.Status.OFFERED

    why = "The talent is a minor: the verified guardian of a minor signs."
    license_url = reverse("portal-license", args=[license.id])
    for client in (gabe, dana, signed_in(mia.user)):
        page = text(client.get(license_url))
        assert why in page and "Gabriel Example" in page and day_text(representation.valid_until) in page
    assert reverse("portal-license-sign", args=[license.id]) not in text(signed_in(mia.user).get(license_url))
    assert reverse("portal-license-sign", args=[license.id]) not in text(dana.get(license_url))

    # The guardian signs on the license page.
    page = text(gabe.get(license_url))
    assert reverse("portal-license-sign", args=[license.id]) in page
    response = gabe.post(reverse("portal-license-sign", args=[license.id]),
                         {"disclosure_accepted": "on", "text_sha256": license.text_sha256})
    assert response.status_code == 302
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.SIGNED and license.signed_by == gabe_user
    assert license.signed_under == representation
    assert license.signatures.get(role="guardian").signer == gabe_user
    services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)

    # The minor, on their own account, can always revoke; so can the guardian.
    minor = signed_in(mia.user)
    page = text(minor.get(license_url))
    assert reverse("portal-license-revoke", args=[license.id]) in page
    revoke_page = text(minor.get(reverse("portal-license-revoke", args=[license.id])))
    assert "Revoke now" in revoke_page and 'role="alert"' not in revoke_page
    assert reverse("portal-license-revoke", args=[license.id]) in text(gabe.get(license_url))
    bob = text(signed_in(personas.bob).get(reverse("portal-license-revoke", args=[license.id])))
    assert "Only the talent, their representative or the licensee's legal staff can revoke" in bob
    assert "Revoke now" not in bob


def test_the_minor_sees_the_representation_but_not_the_guardians_evidence_or_code(personas, django_user_model):
    mia, gabe_user = minor_and_guardian(personas, django_user_model)
    gabe = signed_in(gabe_user)
    gabe.post(reverse("portal-representations"), {"kind": "guardian", "talent_username": "mia"})
    representation = Representation.objects.get()
    url = reverse("portal-representation", args=[representation.id])
    gabe.post(url, upload("id_document"))
    evidence = representation.evidence.get()
    minor = signed_in(mia.user)
    page = text(minor.get(url))
    assert minor.get(url).status_code == 200 and representation.challenge_code not in page
    assert str(evidence.id) not in page
    assert minor.post(url, upload("authority")).status_code == 404 and representation.evidence.count() == 1
    assert minor.get(reverse("portal-representation-evidence", args=[representation.id, evidence.id])
                     ).status_code == 404
    page = text(minor.get(reverse("portal-my-representatives")))
    assert "gabe" in page and "Waiting for the verification desk" in page
    for outsider in (personas.charlie, personas.dana, personas.alice):
        client = signed_in(outsider)
        assert client.get(url).status_code == 404
        assert client.get(reverse("portal-representation-end", args=[representation.id])).status_code == 404


def test_a_refused_upload_is_explained_beside_the_file_and_stores_nothing(personas, django_user_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    _, gabe_user = minor_and_guardian(personas, django_user_model)
    gabe = signed_in(gabe_user)
    gabe.post(reverse("portal-representations"), {"kind": "guardian", "talent_username": "mia"})
    representation = Representation.objects.get()
    url = reverse("portal-representation", args=[representation.id])
    response = gabe.post(url, {"kind": "id_document", "file": SimpleUploadedFile("id.pdf", b"%PDF-1.7\n%%EOF\n")})
    assert response.status_code == 400 and "Upload this as an image" in field_errors(text(response), "file")
    response = gabe.post(url, {"kind": "id_document"})
    assert response.status_code == 400 and "Choose a file to upload." in field_errors(text(response), "file")
    assert not representation.evidence.exists()


# --- the talent's and the representative's pages ---------------------------------------------------

def test_a_talent_names_an_agent_sees_it_and_ends_it(personas, django_user_model):
    gabe_user = django_user_model.objects.create_user(username="gabe", password="pw-gabegabegabe")
    alice = signed_in(personas.alice)
    url = reverse("portal-my-representatives")
    response = alice.post(url, {"kind": "agent", "representative_username": "nobody"})
    assert response.status_code == 400
    assert "There is no account with that username." in field_errors(text(response), "representative_username")
    response = alice.post(url, {"kind": "agent", "representative_username": "alice"})
    assert response.status_code == 400 and "No one is their own representative." in text(response)
    response = alice.post(url, {"kind": "agent", "representative_username": "frank"})
    assert response.status_code == 400 and "A verifier of the platform operator cannot represent" in text(response)
    assert not Representation.objects.exists()

    assert alice.post(url, {"kind": "agent", "representative_username": "gabe"}).status_code == 302
    representation = Representation.objects.get()
    assert representation.kind == "agent" and representation.representative == gabe_user
    page = text(alice.get(url))
    assert "gabe" in page and "Waiting for the verification desk" in page
    assert reverse("portal-representation-end", args=[representation.id]) in page
    assert reverse("portal-my-representatives") in text(alice.get("/"))
    gabe = signed_in(gabe_user)
    page = text(gabe.get(reverse("portal-representations")))
    assert "Alice Avery" in page and "Authorised agent" in page
    assert reverse("portal-representations") in text(gabe.get("/")), "the nav links a representative's page"

    end = reverse("portal-representation-end", args=[representation.id])
    assert "signs nothing" in text(alice.get(end))
    alice = stepped_up(personas.alice)
    response = alice.post(end, {"reason": ""})
    assert response.status_code == 400 and "Say why the representation ends." in field_errors(text(response), "reason")
    assert alice.post(end, {"reason": "I changed agencies."}).status_code == 302
    representation.refresh_from_db()
    assert representation.status == "revoked" and representation.revoked_by == personas.alice


def test_asking_to_represent_an_unknown_talent_is_explained_beside_the_field(personas, django_user_model):
    gabe = signed_in(django_user_model.objects.create_user(username="gabe", password="pw-gabegabegabe"))
    response = gabe.post(reverse("portal-representations"), {"kind": "guardian", "talent_username": "nobody"})
    assert response.status_code == 400
    assert "No talent has that username." in field_errors(text(response), "talent_username")
    response = gabe.post(reverse("portal-representations"), {"kind": "agent", "talent_username": "alice"})
    assert response.status_code == 400 and "Select a valid choice" in field_errors(text(response), "kind")
    assert not Representation.objects.exists()


@pytest.mark.parametrize("persona", ["bob", "charlie", "dana", "frank"])
def test_my_representatives_is_for_talent_only(personas, persona):
    assert signed_in(getattr(personas, persona)).get(reverse("portal-my-representatives")).status_code == 404


def test_the_guardian_not_the_minor_is_asked_to_approve_a_use(personas, django_user_model):
    from consent import desk
    from generation.services import render as renders
    from tests.conftest import LICENSE_TERMS, SMALL_RENDER, approve_representation

    mia, gabe_user = minor_and_guardian(personas, django_user_model)
    representation = desk.representation_request(talent=mia, representative=gabe_user, kind="guardian",
                                                 acting_user=gabe_user)
    approve_representation(personas, representation)
    today = timezone.localdate()
    license = services.license_draft(talent=mia, licensee=personas.studio, acting_user=personas.erin,
                                     **{**LICENSE_TERMS, "permitted_media": ["video"], "starts_on": today,
                                        "ends_on": today + timedelta(days=30), "max_renders": 2,
                                        "requires_use_approval": True})
    license = services.license_offer(license=license, acting_user=personas.erin)
    license = services.license_sign(license=license, context=sign_context(license), acting_user=gabe_user)
    services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    renders.render_job_request(license_id=str(license.id), prompt="sks person lighting a lantern",
                               params=SMALL_RENDER, acting_user=personas.bob)
    guardian = text(signed_in(gabe_user).get("/"))
    assert "Uses waiting for your approval" in guardian and "sks person lighting a lantern" in guardian
    assert "(for Mia Minor)" in guardian
    minor = text(signed_in(mia.user).get("/"))
    assert "Uses waiting for your approval" not in minor and "Night Market" in minor


def test_a_verifier_ends_a_representation_from_the_desk_as_on_the_api(personas, django_user_model):
    from consent import desk
    from tests.conftest import approve_representation

    mia, gabe_user = minor_and_guardian(personas, django_user_model)
    representation = desk.representation_request(talent=mia, representative=gabe_user, kind="guardian",
                                                 acting_user=gabe_user)
    approve_representation(personas, representation)
    end = reverse("portal-representation-end", args=[representation.id])
    assert end in text(signed_in(personas.frank).get(reverse("portal-desk-representation", args=[representation.id])))
    assert signed_in(personas.frank).get(end).status_code == 200
    for outsider in (personas.charlie, personas.dana, personas.alice):
        assert signed_in(outsider).get(end).status_code == 404
    frank = stepped_up(personas.frank)
    response = frank.post(end, {"reason": "The court appointed another guardian."})
    assert response.status_code == 302 and response["Location"] == reverse("portal-desk")
    representation.refresh_from_db()
    assert representation.status == "revoked" and representation.revoked_by == personas.frank
