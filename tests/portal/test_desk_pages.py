"""The verification desk in the portal: only the platform's verifiers reach it (the talent
reads back their own evidence, the representative theirs), two different verifiers approve,
each decision needs a fresh second factor, and every refusal is shown in plain words."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from consent import desk
from consent.models import IdentityVerification, Representation
from core.stepup import KEPT_FORM_SESSION_KEY
from tests.conftest import verify_identity
from tests.consent.evidence import evidence_files
from tests.portal.people import field_errors, minor_and_guardian, png, signed_in, stepped_up, text

pytestmark = pytest.mark.django_db

PERSONAS = ("alice", "bob", "charlie", "dana", "erin", "frank", "grace", "mia", "gabe")
VERIFIERS = {"frank", "grace"}


@pytest.fixture(autouse=True)
def local_cache(empty_cache):  # type: ignore[no-untyped-def]
    """Used TOTP codes and rate-limit counters live in the cache: each test starts empty."""


def _ask_for_verification(talent, method: str = IdentityVerification.Method.DOCUMENT):  # type: ignore[no-untyped-def]
    verification = desk.identity_verification_request(talent=talent, method=method, acting_user=talent.user)
    for kind in ("id_document", "consent_capture"):
        name, data = evidence_files()[kind]
        desk.identity_evidence_add(verification=verification, kind=kind, data=data, filename=name,
                                   acting_user=talent.user)
    return verification


@pytest.fixture
def waiting(personas, django_user_model):  # type: ignore[no-untyped-def]
    """Alice's identity verification and Gabe's guardianship of Mia, each with its evidence, waiting for the desk."""
    verification = _ask_for_verification(personas.talent)
    mia, gabe = minor_and_guardian(personas, django_user_model)
    representation = desk.representation_request(talent=mia, representative=gabe, kind=Representation.Kind.GUARDIAN,
                                                 acting_user=gabe)
    for kind, (name, data) in evidence_files().items():
        desk.representation_evidence_add(representation=representation, kind=kind, data=data, filename=name,
                                         acting_user=gabe)
    users = {name: getattr(personas, name) for name in PERSONAS[:7]}
    users.update(mia=mia.user, gabe=gabe)
    return verification, representation, users


def _routes(verification, representation):  # type: ignore[no-untyped-def]
    """Every portal route that reads identity evidence or decides anything, and who reaches it."""
    v_evidence = verification.evidence.first()
    r_evidence = representation.evidence.first()
    v, r = {"verification_id": verification.id}, {"representation_id": representation.id}
    approve = {"decision": "approve", "legal_name": "Alice Avery", "birth_date": "1990-04-02"}
    reject = {"decision": "reject", "note": "Not convincing."}
    return [
        ("GET", reverse("portal-desk"), None, VERIFIERS),
        ("GET", reverse("portal-desk-verification", kwargs=v), None, VERIFIERS),
        ("POST", reverse("portal-desk-verification", kwargs=v), approve, VERIFIERS),
        ("POST", reverse("portal-desk-verification", kwargs=v), reject, VERIFIERS),
        ("GET", reverse("portal-desk-verification-evidence", kwargs={**v, "evidence_id": v_evidence.id}), None,
         VERIFIERS),
        ("GET", reverse("portal-desk-representation", kwargs=r), None, VERIFIERS),
        ("POST", reverse("portal-desk-representation", kwargs=r), {**approve, "legal_name": "Gabe Example"},
         VERIFIERS),
        ("POST", reverse("portal-desk-representation", kwargs=r), reject, VERIFIERS),
        ("GET", reverse("portal-desk-representation-evidence", kwargs={**r, "evidence_id": r_evidence.id}), None,
         VERIFIERS),
        ("GET", reverse("portal-my-verification-evidence", kwargs={"evidence_id": v_evidence.id}), None, {"alice"}),
        ("GET", reverse("portal-representation-evidence", kwargs={**r, "evidence_id": r_evidence.id}), None,
         {"gabe"}),
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_verifiers_and_the_evidences_own_uploader_reach_identity_evidence_and_decisions(waiting, persona):
    verification, representation, users = waiting
    client = signed_in(users[persona])
    for method, url, data, allowed in _routes(verification, representation):
        response = client.get(url) if method == "GET" else client.post(url, data)
        if persona in allowed:
            # a verifier signed in without a fresh second factor is sent to confirm it first
            assert response.status_code == (200 if method == "GET" else 302), (method, url)
        else:
            assert response.status_code == 404, (persona, method, url)
    for subject in (verification, representation):
        subject.refresh_from_db()
        assert subject.status == "pending" and subject.first_approved_by_id is None and subject.decided_by_id is None


def test_the_old_legal_review_routes_are_gone(waiting):
    verification, _, users = waiting
    dana = signed_in(users["dana"])
    assert dana.get(f"/verifications/{verification.id}/").status_code == 404
    page = dana.get("/").content.decode()
    assert "Identity verifications to decide" not in page and reverse("portal-desk") not in page
    assert str(verification.id) not in page


def _an_evidence_file(response, evidence) -> bool:  # type: ignore[no-untyped-def]
    """Decrypted evidence answers as the API's does (consent.downloads), but shown in its own
    tab: never sniffed into another type, never stored by any cache."""
    return (response["Content-Disposition"] == f'inline; filename="{evidence.kind}-{evidence.id}"'
            and response["X-Content-Type-Options"] == "nosniff" and response["Cache-Control"] == "no-store")


def test_a_verifier_reads_evidence_in_a_tab_of_its_own_and_each_viewing_is_recorded(waiting):
    verification, representation, users = waiting
    frank = signed_in(users["frank"])
    page = frank.get(reverse("portal-desk-verification", args=[verification.id])).content.decode()
    assert verification.challenge_code in page
    for evidence in verification.evidence.all():
        url = reverse("portal-desk-verification-evidence", args=[verification.id, evidence.id])
        assert url in page
        response = frank.get(url)
        assert response.status_code == 200 and png(response.content)
        assert _an_evidence_file(response, evidence)
    viewed = AuditEvent.objects.filter(action="identity.evidence_viewed")
    assert viewed.count() == 2 and all(f"user:{users['frank'].pk}" == event.actor for event in viewed)
    authority = representation.evidence.get(kind="authority")
    response = frank.get(reverse("portal-desk-representation-evidence", args=[representation.id, authority.id]))
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    assert _an_evidence_file(response, authority)
    assert AuditEvent.objects.filter(action="representation.evidence_viewed").count() == 1


def test_the_queue_shows_what_waits_and_for_which_approval(waiting):
    verification, representation, users = waiting
    frank = stepped_up(users["frank"])
    page = frank.get(reverse("portal-desk")).content.decode()
    assert reverse("portal-desk-verification", args=[verification.id]) in page
    assert reverse("portal-desk-representation", args=[representation.id]) in page
    assert page.count("a first approval") == 2 and "a second approval" not in page
    frank.post(reverse("portal-desk-verification", args=[verification.id]),
               {"decision": "approve", "legal_name": "Alice Avery", "birth_date": "1990-04-02"})
    page = frank.get(reverse("portal-desk")).content.decode()
    assert page.count("a first approval") == 1 and "a second approval" in page and "first by you" in page
    home = frank.get("/").content.decode()
    assert reverse("portal-desk") in home and "1 identity verification and" in home and "1 representation waiting" in home


def test_approval_takes_two_different_verifiers_and_the_same_one_twice_is_refused_with_the_rule(waiting):
    verification, _, users = waiting
    url = reverse("portal-desk-verification", args=[verification.id])
    frank = stepped_up(users["frank"])
    response = frank.post(url, {"decision": "approve", "legal_name": " Alice  Avery ", "birth_date": "1990-04-02"})
    assert response.status_code == 302
    verification.refresh_from_db()
    assert verification.awaiting_second_approval and verification.first_approved_by == users["frank"]
    assert (verification.legal_name, verification.birth_date) == ("Alice Avery", date(1990, 4, 2))

    rule = "Four eyes: a second, different verifier must confirm this approval."
    page = text(frank.get(url))
    assert rule in page and "Confirm and approve" not in page and "Alice Avery" in page
    response = frank.post(url, {"decision": "approve"})
    assert response.status_code == 400 and rule in text(response)
    verification.refresh_from_db()
    assert verification.status == "pending" and verification.decided_by_id is None

    grace = stepped_up(users["grace"])
    page = text(grace.get(url))
    assert "Recorded by the first verifier" in page and "2 Apr 1990" in page and "Confirm and approve" in page
    assert 'name="legal_name"' not in page, "the second verifier confirms the record, not a new one"
    assert grace.post(url, {"decision": "approve"}).status_code == 302
    verification.refresh_from_db()
    assert verification.status == "approved" and verification.decided_by == users["grace"]
    assert list(AuditEvent.objects.filter(action__startswith="identity.verification_",
                                          subject=f"talent:{verification.talent_id}").values_list(
        "action", flat=True).order_by("seq")) == ["identity.verification_requested",
                                                  "identity.verification_first_approval",
                                                  "identity.verification_approved"]
    assert "Approved by two verifiers" in text(grace.get(url)) and 'name="decision"' not in text(grace.get(url))
    response = grace.post(url, {"decision": "reject", "note": "Second thoughts."})
    assert response.status_code == 400 and "This request was already approved." in text(response)
    verification.refresh_from_db()
    assert verification.status == "approved"


def test_a_first_approval_records_the_facts_and_errors_stand_beside_their_fields(waiting):
    verification, _, users = waiting
    url = reverse("portal-desk-verification", args=[verification.id])
    frank = stepped_up(users["frank"])
    response = frank.post(url, {"decision": "approve", "legal_name": "", "birth_date": "1990-04-02"})
    assert response.status_code == 400
    assert "Record the legal name the identity document shows." in field_errors(text(response), "legal_name")
    response = frank.post(url, {"decision": "approve", "legal_name": "Alice Avery", "birth_date": "2999-01-01"})
    assert "That date of birth is not possible." in field_errors(text(response), "birth_date")
    response = frank.post(url, {"decision": "approve", "legal_name": "Alice Avery"})
    assert "Record the date of birth" in field_errors(text(response), "birth_date")
    response = frank.post(url, {"decision": "reject", "note": " "})
    assert response.status_code == 400 and "Say why the request is rejected." in field_errors(text(response), "note")
    verification.refresh_from_db()
    assert verification.status == "pending" and verification.first_approved_by_id is None
    assert frank.post(url, {"decision": "reject", "note": "The capture does not show the code."}).status_code == 302
    verification.refresh_from_db()
    assert verification.status == "rejected" and verification.decided_by == users["frank"]
    alice = signed_in(users["alice"]).get(reverse("portal-my-verification")).content.decode()
    assert "rejected" in alice and "The capture does not show the code." in alice


def test_a_decision_needs_a_fresh_second_factor(waiting):
    verification, _, users = waiting
    url = reverse("portal-desk-verification", args=[verification.id])
    frank = signed_in(users["frank"])
    response = frank.post(url, {"decision": "approve", "legal_name": "Alice Avery", "birth_date": "1990-04-02"},
                          HTTP_REFERER=f"http://testserver{url}")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/reauthenticate/")
    verification.refresh_from_db()
    assert verification.first_approved_by_id is None
    assert KEPT_FORM_SESSION_KEY not in frank.session, "identity facts typed on the desk never wait in a session"


def test_a_representation_is_decided_on_the_desk_with_its_validity(waiting):
    _, representation, users = waiting
    url = reverse("portal-desk-representation", args=[representation.id])
    frank = stepped_up(users["frank"])
    page = text(frank.get(url))
    assert representation.challenge_code in page and "The talent, as the desk verified them" in page
    assert 'name="talent_died_on"' not in page, "a date of death is asked only of an estate"
    response = frank.post(url, {"decision": "approve", "legal_name": ""})
    assert response.status_code == 400 and "Record the legal name" in field_errors(text(response), "legal_name")
    assert frank.post(url, {"decision": "approve", "legal_name": "Gabe Example"}).status_code == 302
    representation.refresh_from_db()
    adulthood = representation.talent.verifications.get().birth_date.replace(
        year=representation.talent.verifications.get().birth_date.year + 18)
    assert representation.awaiting_second_approval and representation.valid_until == adulthood
    response = frank.post(url, {"decision": "approve"})
    assert response.status_code == 400 and "Four eyes" in text(response)
    assert stepped_up(users["grace"]).post(url, {"decision": "approve"}).status_code == 302
    representation.refresh_from_db()
    assert representation.status == "approved" and representation.decided_by == users["grace"]


def test_an_estate_records_the_date_of_death_beside_its_field(personas, django_user_model):
    from consent import services

    june = django_user_model.objects.create_user(username="june", password="pw-junejunejune")
    talent = services.talent_enrol(user=june, display_name="June Late", acting_user=june)
    verify_identity(personas, talent)
    executor = django_user_model.objects.create_user(username="ed", password="pw-ededed")
    representation = desk.representation_request(talent=talent, representative=executor,
                                                 kind=Representation.Kind.ESTATE, acting_user=executor)
    for kind, (name, data) in evidence_files().items():
        desk.representation_evidence_add(representation=representation, kind=kind, data=data, filename=name,
                                         acting_user=executor)
    url = reverse("portal-desk-representation", args=[representation.id])
    frank = stepped_up(personas.frank)
    assert 'name="talent_died_on"' in frank.get(url).content.decode()
    response = frank.post(url, {"decision": "approve", "legal_name": "Ed Example"})
    assert "Record the date of death" in field_errors(text(response), "talent_died_on")
    assert frank.post(url, {"decision": "approve", "legal_name": "Ed Example",
                            "talent_died_on": "2026-01-05"}).status_code == 302
    representation.refresh_from_db()
    assert representation.talent_died_on == date(2026, 1, 5) and representation.awaiting_second_approval


def test_the_talent_reads_back_only_their_own_evidence(waiting, personas, django_user_model):
    from consent import services

    verification, _, users = waiting
    alice = signed_in(users["alice"])
    page = alice.get(reverse("portal-my-verification")).content.decode()
    assert verification.challenge_code in page
    for evidence in verification.evidence.all():
        url = reverse("portal-my-verification-evidence", args=[evidence.id])
        assert url in page and png(alice.get(url).content)
    hugo = django_user_model.objects.create_user(username="hugo", password="pw-hugohugo")
    services.talent_enrol(user=hugo, display_name="Hugo Ford", acting_user=hugo)
    other = signed_in(hugo)
    for evidence in verification.evidence.all():
        assert other.get(reverse("portal-my-verification-evidence", args=[evidence.id])).status_code == 404
