"""The licensee cannot manufacture the consent it profits from (invariant 7).

Each attack is tried as a studio insider would, through the API: it is refused with the
rule named, and nothing changes (no new rows, no new files, no audit events other than a
consent gate's refusal).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from consent import desk, services
from consent.models import (
    LicenseUse,
    LikenessLicense,
    Membership,
    Representation,
    SignatureEvent,
)
from generation.models import RenderJob, TrainingJob
from tests.conftest import LICENSE_TERMS, SMALL_RENDER, make_license, sign_context, verify_identity

pytestmark = pytest.mark.django_db


def _files(settings) -> set[Path]:  # type: ignore[no-untyped-def]
    root = Path(settings.MEDIA_ROOT)
    return set(root.rglob("*")) if root.exists() else set()


@contextmanager
def nothing_changes(settings, *, allowed_audit: tuple[str, ...] = ()) -> Iterator[None]:  # type: ignore[no-untyped-def]
    models = (LikenessLicense, SignatureEvent, Representation, RenderJob, TrainingJob, LicenseUse)
    before = ({m: m.objects.count() for m in models}, _files(settings), AuditEvent.objects.count())
    yield
    assert {m: m.objects.count() for m in models} == before[0]
    assert _files(settings) == before[1]
    added = AuditEvent.objects.filter(seq__gt=before[2])
    assert set(added.values_list("action", flat=True)) <= set(allowed_audit), list(added.values_list("action", flat=True))


def _draft_body(personas, licensee, **extra) -> dict:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    return {**LICENSE_TERMS, "talent": str(personas.talent.id), "licensee": str(licensee.id),
            "permitted_media": ["video"], "max_renders": 3, "starts_on": str(today),
            "ends_on": str(today + timedelta(days=90)), **extra}


@pytest.fixture
def olga(mfa_personas, django_user_model):  # type: ignore[no-untyped-def]
    """Legal staff of Harbour Pictures, a studio Alice never dealt with."""
    from accounts.services import totp_enrol

    user = django_user_model.objects.create_user(username="olga", password="pw-olga-harbour")
    services.membership_add(organization=mfa_personas.other_studio, user=user, role=Membership.Role.LEGAL,
                            acting_user=mfa_personas.dana)
    mfa_personas.olga = user
    mfa_personas.totp_secrets["olga"] = totp_enrol(user=user)
    return user


@pytest.fixture
def api_olga(api, mfa_personas, olga):  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    from tests.accounts.conftest import totp_code

    client = APIClient()
    client.force_login(olga)
    assert client.post("/accounts/2fa/reauthenticate/", {"code": totp_code(mfa_personas.totp_secrets["olga"])}).status_code == 302
    return client


# --- attack 1: a license in force that the talent never signed --------------------------------

@pytest.mark.parametrize("claim", [
    {"capacity": "minor", "talent_birth_date": "2015-06-01"},
    {"representative": "DANA"},
    {"capacity": "deceased"},
])
def test_a_studio_cannot_declare_the_talent_a_minor_or_dead_or_name_who_signs(mfa_personas, api, settings, claim):
    verify_identity(mfa_personas, mfa_personas.talent)
    claim = {k: (mfa_personas.dana.pk if v == "DANA" else v) for k, v in claim.items()}
    with nothing_changes(settings):
        response = api("dana").post("/api/v1/licenses/", _draft_body(mfa_personas, mfa_personas.studio, **claim),
                                    format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] in claim and "verification desk" in body["message"]


def test_legal_cannot_sign_the_talent_side_of_their_own_license(mfa_personas, api, settings):
    license = make_license(mfa_personas, signed=False, countersigned=False)
    with nothing_changes(settings):
        response = api("dana").post(f"/api/v1/licenses/{license.id}/sign/",
                                    {"text_sha256": license.text_sha256, "disclosure_accepted": True}, format="json")
    assert response.status_code == 403
    assert "signs the talent side" in response.json()["message"]
    license.refresh_from_db()
    assert license.status == "offered" and license.signed_by is None


def test_another_studio_cannot_make_the_talent_an_estate_and_sign_for_her(mfa_personas, api, api_olga, olga, settings):
    """Harbour's legal user claims Alice died, names themself the executor with a one-line
    'authority document', and tries to sign: every step is refused or merely waits for the
    verification desk, which never approves on its own say-so."""
    verify_identity(mfa_personas, mfa_personas.talent)
    with nothing_changes(settings):
        response = api_olga.post("/api/v1/licenses/", _draft_body(
            mfa_personas, mfa_personas.other_studio, capacity="deceased", representative=olga.pk), format="json")
    assert response.status_code == 400 and response.json()["field"] in ("capacity", "representative")
    # The only way to act for an estate is a representation, which the desk decides from evidence.
    asked = api_olga.post("/api/v1/representations/", {"kind": "estate", "talent_username": "alice"}, format="json")
    assert asked.status_code == 201, asked.content
    representation = Representation.objects.get(pk=asked.json()["id"])
    fake = ("authority.pdf", b"%PDF-1.4 I am the estate\n%%EOF\n")
    assert api_olga.post(f"/api/v1/representations/{representation.id}/evidence/",
                         {"kind": "authority", "file": _upload(*fake)}, format="multipart").status_code == 400
    # Harbour drafts an ordinary license: the facts make Alice a living adult, so only she signs.
    drafted = api_olga.post("/api/v1/licenses/", _draft_body(mfa_personas, mfa_personas.other_studio), format="json")
    assert drafted.status_code == 201 and drafted.json()["capacity"] == "adult"
    license = LikenessLicense.objects.get(pk=drafted.json()["id"])
    services.license_offer(license=license, acting_user=olga)
    with nothing_changes(settings):
        signed = api_olga.post(f"/api/v1/licenses/{license.id}/sign/",
                               {"text_sha256": license.text_sha256, "disclosure_accepted": True}, format="json")
        decided = api_olga.post(f"/api/v1/representations/{representation.id}/decide/",
                                {"approve": True, "legal_name": "Olga", "talent_died_on": "2026-01-01"}, format="json")
    assert signed.status_code == 403
    assert decided.status_code == 403 and "Only verifiers" in decided.json()["message"]
    # A verifier cannot approve it alone, and a second one needs the missing evidence first.
    with pytest.raises(Exception, match="missing"):
        desk.representation_decide(representation=representation, approve=True, acting_user=mfa_personas.frank,
                                   legal_name="Olga", talent_died_on=timezone.localdate())
    # Once Harbour holds a license with Alice, its staff cannot even ask to represent her.
    again = api_olga.post("/api/v1/representations/", {"kind": "estate", "talent_username": "alice"}, format="json")
    assert again.status_code == 403 and "member of a studio" in again.json()["message"]


def _upload(name: str, data: bytes):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def test_one_person_never_signs_both_sides_by_service_or_by_database(mfa_personas, settings):
    alice = mfa_personas.alice
    services.membership_add(organization=mfa_personas.studio, user=alice, role=Membership.Role.LEGAL,
                            acting_user=mfa_personas.dana)
    license = make_license(mfa_personas, countersigned=False)
    with nothing_changes(settings):
        with pytest.raises(Exception, match="cannot sign both sides"):
            services.license_countersign(license=license, context=sign_context(license), acting_user=alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        LikenessLicense.objects.filter(pk=license.pk).update(countersigned_by=alice)


# --- attack 2: identity evidence reached through a draft -------------------------------------

def test_drafting_a_license_gives_a_studio_no_way_to_identity_evidence(mfa_personas, api_olga, olga, settings):
    from tests.consent.evidence import evidence_files

    verify_identity(mfa_personas, mfa_personas.talent)
    pending = desk.identity_verification_request(talent=mfa_personas.talent, method="document",
                                                 acting_user=mfa_personas.alice)  # a renewal
    files = evidence_files()
    evidence = desk.identity_evidence_add(verification=pending, kind="id_document", data=files["id_document"][1],
                                          filename="id.jpg", acting_user=mfa_personas.alice)
    assert api_olga.post("/api/v1/licenses/", _draft_body(mfa_personas, mfa_personas.other_studio),
                         format="json").status_code == 201
    with nothing_changes(settings):
        assert api_olga.get(f"/api/v1/verifications/{pending.id}/evidence/{evidence.id}/").status_code == 404
        assert api_olga.post(f"/api/v1/verifications/{pending.id}/decide/",
                             {"approve": False, "note": "forged"}, format="json").status_code == 404
        assert api_olga.get("/api/v1/verifications/").json()["results"] == []
    talent = api_olga.get(f"/api/v1/talents/{mfa_personas.talent.id}/").json()
    assert talent["identity"]["verified"] is True and talent["identity"]["capacity"] == "adult"
    assert "birth" not in str(talent) and "legal_name" not in str(talent)


# --- attack 3: a likeness model used under a license that does not allow one ------------------

def test_a_likeness_model_is_refused_under_a_license_that_does_not_allow_one(mfa_personas, api, settings):
    from consent.likeness import likeness_model_register

    l1 = make_license(mfa_personas, allows_likeness_model=True)
    l3 = make_license(mfa_personas)  # in force, but allows no likeness model
    with transaction.atomic():
        model = likeness_model_register(license_id=str(l1.id), training_ref="t1", weights=b"lora-weights", rank=4,
                                        alpha=4.0, instance_prompt="sks person", actor="system:test")
    services.license_suspend(license=l1, reason="dispute", note="", acting_user=mfa_personas.dana)
    body = {"license": str(l3.id), "prompt": "sks person walking", "params": SMALL_RENDER,
            "likeness_model": str(model.id)}
    with nothing_changes(settings, allowed_audit=("consent.gate_refused",)):
        response = api("bob").post("/api/v1/renders/", body, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["errors"]["reason"] == "likeness_model_not_permitted"
    assert AuditEvent.objects.filter(action="consent.gate_refused").count() == 1
