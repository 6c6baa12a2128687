"""Every step-up action works for an API client with a token and no session: refused with the
standard error body without an X-Bespoke-OTP code, done with a current one.

The step-up actions are those core.stepup lists: sign, countersign and revoke a license;
decide an identity verification or a representation; end a representation; approve or
decline a use; export and erase the talent's data; invite a member of an organisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.stepup import OTP_HEADER
from audit.models import AuditEvent
from consent import desk
from generation.services import render
from tests.accounts.conftest import totp_code
from tests.conftest import SMALL_RENDER, make_license
from tests.consent.evidence import evidence_files

pytestmark = pytest.mark.django_db
ERROR_KEYS = {"code", "message", "field", "errors"}


Prepared = tuple[str, dict[str, Any]]  # the action's URL, and its body


@dataclass(frozen=True)
class StepUpAction:
    persona: str
    prepare: Callable[[Any], Prepared]  # makes what the action acts on, from the personas


def _on_license(name: str, body: dict[str, Any], **make: Any) -> Callable[[Any], Prepared]:
    return lambda personas: (reverse(name, kwargs={"pk": make_license(personas, **make).id}), body)


def _signing(name: str, **make: Any) -> Callable[[Any], Prepared]:
    def prepare(personas: Any) -> Prepared:
        license = make_license(personas, **make)
        body = {"text_sha256": license.text_sha256, "disclosure_accepted": True}
        return reverse(name, kwargs={"pk": license.id}), body

    return prepare


def _on_verification(personas: Any) -> Prepared:
    verification = desk.identity_verification_request(talent=personas.talent, method="document",
                                                      acting_user=personas.alice)
    return reverse("verification-decide", kwargs={"pk": verification.id}), {"approve": False, "note": "Unreadable."}


def _on_representation(name: str, body: dict[str, Any]) -> Callable[[Any], Prepared]:
    def prepare(personas: Any) -> Prepared:
        otto = get_user_model().objects.create_user(username="otto", password="pw-otto-agent")
        representation = desk.representation_request(talent=personas.talent, representative=otto, kind="agent",
                                                     acting_user=personas.alice)
        for kind, (filename, data) in evidence_files().items():
            desk.representation_evidence_add(representation=representation, kind=kind, data=data, filename=filename,
                                             acting_user=otto)
        return reverse(name, kwargs={"pk": representation.id}), body

    return prepare


def _on_use(name: str, body: dict[str, Any]) -> Callable[[Any], Prepared]:
    def prepare(personas: Any) -> Prepared:
        license = make_license(personas, requires_use_approval=True)
        job = render.render_job_request(license_id=str(license.id), prompt="sks person smiling", params=SMALL_RENDER,
                                        acting_user=personas.bob)
        return reverse(name, kwargs={"pk": job.id}), body

    return prepare


def _on_own_data(name: str, body: dict[str, Any]) -> Callable[[Any], Prepared]:
    def prepare(personas: Any) -> Prepared:
        make_license(personas)  # something to export and to erase
        return reverse(name), body

    return prepare


def _member_invitation(personas: Any) -> Prepared:
    return reverse("invitation-list"), {"organization": str(personas.studio.id), "kind": "member", "role": "producer",
                                        "email": "new-producer@example.org"}


STEP_UP_ACTIONS = {
    "license-sign": StepUpAction("alice", _signing("license-sign", signed=False, countersigned=False)),
    "license-countersign": StepUpAction("dana", _signing("license-countersign", countersigned=False)),
    "license-revoke": StepUpAction("alice", _on_license("license-revoke", {"reason": "Withdrawn."})),
    "verification-decide": StepUpAction("frank", _on_verification),
    "representation-decide": StepUpAction("frank", _on_representation(
        "representation-decide", {"approve": False, "note": "The authority document is unreadable."})),
    "representation-revoke": StepUpAction("alice", _on_representation(
        "representation-revoke", {"reason": "I manage my own bookings again."})),
    "render-approve": StepUpAction("alice", _on_use("render-approve", {"reason": ""})),
    "render-decline": StepUpAction("alice", _on_use("render-decline", {"reason": "Not this scene."})),
    "me-export": StepUpAction("alice", _on_own_data("me-export", {})),
    "me-erase": StepUpAction("alice", _on_own_data("me-erase", {"confirm": True})),
    "invitation-list": StepUpAction("dana", _member_invitation),
}


def _token_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.parametrize("name", sorted(STEP_UP_ACTIONS))
def test_a_token_client_steps_up_with_a_one_time_code(mfa_personas, name):
    action = STEP_UP_ACTIONS[name]
    url, body = action.prepare(mfa_personas)
    client = _token_client(getattr(mfa_personas, action.persona))
    events = AuditEvent.objects.count()

    refused = client.post(url, body, format="json")
    assert refused.status_code == 401, refused.content
    assert set(refused.json()) == ERROR_KEYS and refused.json()["code"] == "reauthentication_required"
    assert AuditEvent.objects.count() == events, "a refused step-up changes nothing"

    code = totp_code(mfa_personas.totp_secrets[action.persona])
    done = client.post(url, body, format="json", **{f"HTTP_{OTP_HEADER.upper().replace('-', '_')}": code})
    assert 200 <= done.status_code < 300, done.content
    assert AuditEvent.objects.count() > events


def test_the_export_is_a_post_and_a_get_says_so(mfa_personas):
    response = _token_client(mfa_personas.alice).get(reverse("me-export"))
    assert response.status_code == 405 and "POST" in response["Allow"]
    body = response.json()
    assert set(body) == ERROR_KEYS and "POST" in body["message"] and OTP_HEADER in body["message"]


def test_a_code_steps_up_one_token_request_and_the_cookie_it_leaves_vouches_for_nothing(mfa_personas):
    """The code's record lands in a session; a token client that keeps the cookie is still
    asked for a fresh code on its next step-up action."""
    client = _token_client(mfa_personas.alice)
    first, second = (make_license(mfa_personas, signed=False, countersigned=False, project=project)
                     for project in ("First film", "Second film"))

    def sign(license: Any, **headers: str) -> Any:
        return client.post(reverse("license-sign", kwargs={"pk": license.id}),
                           {"text_sha256": license.text_sha256, "disclosure_accepted": True}, format="json", **headers)

    code = totp_code(mfa_personas.totp_secrets["alice"])
    assert sign(first, **{f"HTTP_{OTP_HEADER.upper().replace('-', '_')}": code}).status_code == 200
    again = sign(second)
    assert again.status_code == 401 and again.json()["code"] == "reauthentication_required"
    assert not second.signatures.exists()
