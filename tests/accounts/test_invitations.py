"""Invitations: legal staff bring people in; the link works once; allauth's pages wear the portal's look."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.invitations import InvitationUnusable, invitation_accept, invitation_create, invitation_revoke
from accounts.models import Invitation
from accounts.services import totp_enrol
from audit.models import AuditEvent
from core.errors import NotAllowed, ValidationFailed
from consent.models import Membership, Talent
from tests.accounts.conftest import PASSWORD, totp_code, with_verified_email

pytestmark = pytest.mark.django_db

ENROL = "/accounts/2fa/totp/activate/"
GOOD_PASSWORD = "quiet-harbour-lantern-42"
INVITEES = ("tess@example.org", "pat@example.org", "lee@example.org")


@pytest.fixture
def legal(client, personas):  # type: ignore[no-untyped-def]
    """A client signed in as Dana, legal at the studio, who has just confirmed her authenticator code
    (granting a role asks for a fresh second factor)."""
    secret = totp_enrol(user=personas.dana)
    client.force_login(personas.dana)
    assert client.post("/accounts/2fa/reauthenticate/", {"code": totp_code(secret)}).status_code == 302
    return client


def _invite(legal, personas, django_capture_on_commit_callbacks, **fields):  # type: ignore[no-untyped-def]
    data = {"organization": personas.studio.id, "kind": "talent", "role": "", "display_name": "", **fields}
    with django_capture_on_commit_callbacks(execute=True):
        return legal.post(reverse("portal-invitations"), data, follow=True)


def _link_in(text: str) -> str:
    match = re.search(r"https://bespoke\.test(/invitations/accept/[^/\s\"]+/)", text)
    assert match, text
    return match.group(1)


def _state() -> tuple[int, ...]:
    return (get_user_model().objects.count(), Membership.objects.count(), Talent.objects.count(),
            EmailAddress.objects.count(), AuditEvent.objects.count(),
            Invitation.objects.filter(accepted_at__isnull=False).count())


def _service_invitation(personas, **fields):  # type: ignore[no-untyped-def]
    return invitation_create(organization=personas.studio, acting_user=personas.dana,
                             **{"kind": "member", "role": "producer", "email": "pat@example.org", **fields})


# --- inviting and accepting ---------------------------------------------------------------

def test_dana_invites_talent_whose_link_makes_an_account_once_and_leads_to_mfa_enrolment(
        legal, personas, django_capture_on_commit_callbacks):
    response = _invite(legal, personas, django_capture_on_commit_callbacks, display_name="Tess Talbot",
                       email="Tess@Example.org")
    assert response.redirect_chain == [(reverse("portal-invitations"), 302)]  # post, redirect, get
    path = _link_in(response.content.decode())
    assert response["Cache-Control"] == "no-store"
    assert [m.to for m in mail.outbox] == [["Tess@example.org"]] and _link_in(mail.outbox[0].body) == path
    invitation = Invitation.objects.get()
    token = path.split("/")[-2]
    assert invitation.status == "pending" and token.split(".", 1)[1] not in invitation.token_sha256
    assert legal.get(reverse("portal-invitations")).content.decode().count(path) == 0  # shown once only

    anonymous = legal.__class__()
    page = anonymous.get(path)
    assert page.status_code == 200 and b'name="username" value="Tess"' in page.content
    response = anonymous.post(path, {"username": "tess", "password": GOOD_PASSWORD, "password_confirm": GOOD_PASSWORD})
    assert response.status_code == 302 and response["Location"] == ENROL
    tess = get_user_model().objects.get(username="tess")
    assert anonymous.session["_auth_user_id"] == str(tess.pk) and tess.check_password(GOOD_PASSWORD)
    assert Talent.objects.get(user=tess).display_name == "Tess Talbot"
    assert not Membership.objects.filter(user=tess).exists()
    assert EmailAddress.objects.get(user=tess).verified
    # The password was chosen a moment ago: the enrolment page does not ask for it again.
    response = anonymous.get(ENROL, follow=True)
    assert response.redirect_chain == []
    assert response.status_code == 200 and b"Activate Authenticator App" in response.content
    invitation.refresh_from_db()
    assert invitation.status == "accepted" and invitation.accepted_by == tess

    before = _state()
    again = legal.__class__()
    for response in (again.get(path), again.post(path, {"username": "tess2", "password": GOOD_PASSWORD,
                                                        "password_confirm": GOOD_PASSWORD})):
        assert response.status_code == 404 and b"already been used" in response.content
    assert _state() == before


@pytest.mark.parametrize("role", ["producer", "legal"])
def test_dana_invites_a_colleague_who_gets_the_role_and_must_enrol_mfa(legal, personas, role,
                                                                       django_capture_on_commit_callbacks):
    response = _invite(legal, personas, django_capture_on_commit_callbacks, kind="member", role=role,
                       email="pat@example.org")
    path = _link_in(response.content.decode())
    invitee = legal.__class__()
    response = invitee.post(path, {"username": "pat", "password": GOOD_PASSWORD, "password_confirm": GOOD_PASSWORD})
    assert response.status_code == 302 and response["Location"] == ENROL
    pat = get_user_model().objects.get(username="pat")
    assert list(Membership.objects.filter(user=pat).values_list("organization", "role")) == [(personas.studio.id, role)]
    assert not Talent.objects.filter(user=pat).exists()
    # Legal staff cannot use the portal until they enrol; producers are nudged to it.
    assert invitee.get("/").status_code == (302 if role == "legal" else 200)
    if role == "legal":
        assert invitee.get("/")["Location"] == ENROL
    # The new account signs in like any other, with its verified address.
    invitee.logout()
    assert invitee.post("/accounts/login/", {"login": "pat@example.org", "password": GOOD_PASSWORD}).status_code == 302


def test_the_invite_form_explains_each_mistake_beside_its_field(legal, personas, django_capture_on_commit_callbacks):
    with_verified_email(personas.bob)
    cases = [({"kind": "talent", "email": "tess@example.org"}, "display_name", "name as it should appear"),
             ({"kind": "member", "email": "pat@example.org"}, "role", "Choose the role"),
             ({"kind": "member", "role": "producer", "email": "not-an-address"}, "email", "valid email"),
             ({"kind": "member", "role": "producer", "email": "BOB@example.com"}, "email", "already exists")]
    for fields, field, text in cases:
        response = _invite(legal, personas, django_capture_on_commit_callbacks, **fields)
        page = response.content.decode()
        assert response.status_code == 400, fields
        assert re.search(rf'<ul class="errorlist" id="id_{field}_error"><li>[^<]*{text}', page), (field, page)
    assert not Invitation.objects.exists() and not mail.outbox


def test_one_pending_invitation_per_address(personas):
    _service_invitation(personas)
    with pytest.raises(ValidationFailed, match="already has a pending invitation"):
        _service_invitation(personas, role="auditor")


# --- refusals change nothing ------------------------------------------------------------

def test_an_expired_invitation_is_refused_clearly_and_changes_nothing(client, personas):
    invitation, token = _service_invitation(personas)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    path = reverse("portal-invitation-accept", kwargs={"token": token})
    before = _state()
    for response in (client.get(path), client.post(path, {"username": "pat", "password": GOOD_PASSWORD,
                                                          "password_confirm": GOOD_PASSWORD})):
        assert response.status_code == 410 and b"has expired" in response.content
    assert _state() == before and "_auth_user_id" not in client.session


def test_a_revoked_invitation_is_refused_clearly_and_changes_nothing(legal, personas, client):
    invitation, token = _service_invitation(personas)
    response = legal.post(reverse("portal-invitation-revoke", kwargs={"invitation_id": invitation.id}), follow=True)
    assert b"revoked: its link no longer works" in response.content
    invitation.refresh_from_db()
    assert invitation.status == "revoked" and invitation.revoked_by == personas.dana
    again = legal.post(reverse("portal-invitation-revoke", kwargs={"invitation_id": invitation.id}), follow=True)
    assert b"only a pending one can be revoked" in again.content

    legal.logout()
    path = reverse("portal-invitation-accept", kwargs={"token": token})
    before = _state()
    for response in (client.get(path), client.post(path, {"username": "pat", "password": GOOD_PASSWORD,
                                                          "password_confirm": GOOD_PASSWORD})):
        assert response.status_code == 410 and b"withdrawn" in response.content
    assert _state() == before
    with pytest.raises(InvitationUnusable):
        invitation_accept(token=token, username="pat", password=GOOD_PASSWORD)


def test_an_unknown_link_reads_exactly_like_a_used_one(client, personas):
    invitation, token = _service_invitation(personas)
    invitation_accept(token=token, username="pat", password=GOOD_PASSWORD)
    used = client.get(reverse("portal-invitation-accept", kwargs={"token": token}))
    wrong_secret = token.split(".")[0] + ".x" + token.split(".")[1][1:]
    before = _state()
    for unknown in (wrong_secret, "not-a-token", "0" * 32 + "." + token.split(".")[1]):
        response = client.get(reverse("portal-invitation-accept", kwargs={"token": unknown}))
        assert response.status_code == used.status_code == 404
        assert response.content == used.content
    assert _state() == before


def test_an_inviter_who_is_no_longer_legal_leaves_no_usable_invitation(client, personas):
    _, token = _service_invitation(personas)
    Membership.objects.filter(user=personas.dana, role="legal").delete()
    response = client.get(reverse("portal-invitation-accept", kwargs={"token": token}))
    assert response.status_code == 410 and b"no longer valid" in response.content


@pytest.mark.parametrize("password, confirm, field, text", [
    ("short", "short", "password", "too short"),
    ("password123", "password123", "password", "too common"),
    ("pat-example-org", "pat-example-org", "password", "too similar"),
    (GOOD_PASSWORD, GOOD_PASSWORD + "x", "password_confirm", "do not match"),
])
def test_a_weak_or_mismatched_password_is_explained_beside_its_field_and_creates_nothing(
        client, personas, password, confirm, field, text):
    invitation, token = _service_invitation(personas)
    path = reverse("portal-invitation-accept", kwargs={"token": token})
    before = _state()
    response = client.post(path, {"username": "pat", "password": password, "password_confirm": confirm})
    page = response.content.decode()
    assert response.status_code == 400
    assert re.search(rf'<ul class="errorlist" id="id_{field}_error"><li>[^<]*{text}', page), page
    assert re.search(rf'<input [^>]*aria-invalid="true"[^>]*id="id_{field}"', page)
    assert _state() == before and "_auth_user_id" not in client.session
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def test_a_taken_username_is_explained_and_creates_nothing(client, personas):
    _, token = _service_invitation(personas)
    before = _state()
    response = client.post(reverse("portal-invitation-accept", kwargs={"token": token}),
                           {"username": "BOB", "password": GOOD_PASSWORD, "password_confirm": GOOD_PASSWORD})
    assert response.status_code == 400
    assert re.search(r'<ul class="errorlist" id="id_username_error"><li>This username is taken', response.content.decode())
    assert _state() == before


# --- who may invite ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bob", "charlie", "alice"])
def test_only_legal_staff_of_the_organisation_see_or_touch_its_invitations(client, personas, name,
                                                                          django_capture_on_commit_callbacks):
    invitation, _ = _service_invitation(personas)
    client.force_login(getattr(personas, name))
    assert client.get(reverse("portal-invitations")).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal-invitations"), {
            "organization": personas.studio.id, "kind": "talent", "display_name": "Eve", "email": "eve@example.org"})
    assert response.status_code == 404
    assert client.post(reverse("portal-invitation-revoke", kwargs={"invitation_id": invitation.id})).status_code == 404
    assert Invitation.objects.get().status == "pending" and Invitation.objects.count() == 1 and not mail.outbox
    with pytest.raises(NotAllowed):
        invitation_create(organization=personas.studio, kind="talent", display_name="Eve", email="eve@example.org",
                          acting_user=getattr(personas, name))
    with pytest.raises(NotAllowed):
        invitation_revoke(invitation=invitation, acting_user=getattr(personas, name))


def test_legal_staff_cannot_invite_into_another_organisation(legal, personas, django_capture_on_commit_callbacks):
    response = _invite(legal, personas, django_capture_on_commit_callbacks, organization=personas.other_studio.id,
                       display_name="Eve", email="eve@example.org")
    assert response.status_code == 400 and b'id="id_organization_error"' in response.content
    with pytest.raises(NotAllowed):
        invitation_create(organization=personas.other_studio, kind="talent", display_name="Eve",
                          email="eve@example.org", acting_user=personas.dana)
    assert not Invitation.objects.exists()


def test_a_signed_in_user_is_told_to_sign_out_before_accepting(client, personas):
    invitation, token = _service_invitation(personas)
    client.force_login(personas.bob)
    response = client.get(reverse("portal-invitation-accept", kwargs={"token": token}))
    assert response.status_code == 409 and b"Sign out" in response.content
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def test_the_list_shows_every_state_and_offers_revoke_only_while_pending(legal, personas):
    states = {}
    for email, role in zip(INVITEES, ("producer", "auditor", "legal")):
        states[email] = _service_invitation(personas, email=email, role=role)
    invitation_accept(token=states[INVITEES[0]][1], username="tess", password=GOOD_PASSWORD)
    invitation_revoke(invitation=states[INVITEES[1]][0], acting_user=personas.erin)
    expired, _ = _service_invitation(personas, email="old@example.org")
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    page = legal.get(reverse("portal-invitations")).content.decode()
    for text in ("Accepted", "Revoked", "Expired", "Pending until"):
        assert text in page
    assert page.count('class="danger">Revoke</button>') == 1


def test_the_api_sends_an_invitation_returning_its_link_once_and_shows_it_only_to_legal(client, personas):
    from rest_framework.test import APIClient

    secret = totp_enrol(user=personas.dana)
    dana, bob = APIClient(), APIClient()
    dana.force_login(personas.dana)
    bob.force_login(personas.bob)
    body = {"organization": str(personas.studio.id), "kind": "member", "role": "auditor", "email": "pat@example.org"}
    assert bob.post("/api/v1/invitations/", body, format="json").status_code == 404
    unconfirmed = dana.post("/api/v1/invitations/", body, format="json")
    assert unconfirmed.status_code == 401 and unconfirmed.json()["code"] == "reauthentication_required"
    assert not Invitation.objects.exists()
    created = dana.post("/api/v1/invitations/", body, format="json", HTTP_X_BESPOKE_OTP=totp_code(secret))
    assert created.status_code == 201, created.content
    link = created.json()["link"]
    assert created.json()["status"] == "pending" and link.startswith("https://bespoke.test/invitations/accept/")
    listed = dana.get("/api/v1/invitations/").json()["results"]
    assert [item["id"] for item in listed] == [created.json()["id"]] and "link" not in listed[0]
    assert bob.get("/api/v1/invitations/").json()["results"] == []
    again = dana.post("/api/v1/invitations/", {**body, "kind": "talent", "role": "", "display_name": "Pat"},
                      format="json")  # a talent invitation grants no role: no second factor asked
    assert again.status_code == 400 and again.json()["field"] == "email"
    revoked = dana.post(f"/api/v1/invitations/{created.json()['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert client.get(link.removeprefix("https://bespoke.test")).status_code == 410


# --- the audit trail --------------------------------------------------------------------

def test_every_step_is_audited_without_an_email_address_or_name(legal, personas, django_capture_on_commit_callbacks):
    start = AuditEvent.objects.count()
    response = _invite(legal, personas, django_capture_on_commit_callbacks, display_name="Tess Talbot",
                       email=INVITEES[0])
    legal.__class__().post(_link_in(response.content.decode()), {"username": "tess", "password": GOOD_PASSWORD,
                                                                  "password_confirm": GOOD_PASSWORD})
    invitation, _ = _service_invitation(personas, email=INVITEES[1])
    invitation_revoke(invitation=invitation, acting_user=personas.dana)
    events = list(AuditEvent.objects.filter(seq__gt=start))
    assert [e.action for e in events] == ["invitation.created", "talent.enrolled", "invitation.accepted",
                                          "invitation.created", "invitation.revoked"]
    for event in AuditEvent.objects.all():
        assert "@" not in event.body and "Tess" not in event.body and "tess" not in event.body, event.body


# --- allauth's pages in the portal's frame ---------------------------------------------------

class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.labels: set[str] = set()
        self.h1 = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("input", "select", "textarea") and attributes.get("type") not in ("hidden", "submit"):
            self.inputs.append(attributes)
        elif tag == "label" and attributes.get("for"):
            self.labels.add(attributes["for"])
        elif tag == "h1":
            self.h1 += 1


def _assert_styled(response, *, inputs: tuple[str, ...] = ()) -> None:  # type: ignore[no-untyped-def]
    page = response.content.decode()
    assert response.status_code == 200, response
    assert " · Bespoke</title>" in page and "--accent" in page and 'href="/verify/">Verify a file' in page
    parsed = _Page()
    parsed.feed(page)
    assert parsed.h1 == 1
    names = {field.get("name") for field in parsed.inputs}
    assert set(inputs) <= names, (inputs, names)
    for field in parsed.inputs:
        assert field.get("id") in parsed.labels, f"input without a label: {field}"


def test_allauth_pages_render_in_the_portal_frame_with_labelled_fields(client, personas):
    _assert_styled(client.get("/accounts/login/"), inputs=("login", "password"))
    _assert_styled(client.get("/accounts/password/reset/"), inputs=("email",))
    _assert_styled(client.get("/accounts/signup/"), inputs=("email", "username", "password1", "password2",
                                                            "display_name", "birth_date", "stars_self"))

    with_verified_email(personas.bob)
    assert client.post("/accounts/login/", {"login": "bob", "password": PASSWORD}).status_code == 302
    _assert_styled(client.get("/accounts/logout/"))
    _assert_styled(client.get("/accounts/reauthenticate/"), inputs=("password",))
    assert client.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    _assert_styled(client.get("/accounts/password/change/"), inputs=("oldpassword", "password1", "password2"))
    _assert_styled(client.get("/accounts/email/"), inputs=("email",))
    _assert_styled(client.get("/accounts/2fa/"))
    _assert_styled(client.get(ENROL), inputs=("code",))

    client.logout()
    dana = with_verified_email(personas.dana)
    secret = totp_enrol(user=dana)
    RecoveryCodes.activate(dana)
    client.force_login(dana)
    _assert_styled(client.get("/accounts/2fa/reauthenticate/"), inputs=("code",))
    assert client.post("/accounts/2fa/reauthenticate/", {"code": totp_code(secret)}).status_code == 302
    _assert_styled(client.get("/accounts/2fa/"))
    _assert_styled(client.get("/accounts/2fa/recovery-codes/"))
    _assert_styled(client.get("/accounts/2fa/recovery-codes/generate/"))
    _assert_styled(client.get("/accounts/2fa/totp/deactivate/"))


def test_sign_up_makes_viewers_only_talent_and_staff_come_by_invitation(client):
    page = client.get("/accounts/login/").content.decode()
    assert "use the link in your invitation email" in page and "Sign up as a viewer" in page
    before = _state()
    response = client.post("/accounts/signup/", {"email": "eve@example.org", "username": "eve",
                                                 "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert response.status_code == 200 and _state() == before
    assert re.search(r'id="id_stars_self_error"><li>Viewer accounts are for starring in stories yourself',
                     response.content.decode())


def test_allauth_errors_show_beside_their_fields_once(client, personas):
    with_verified_email(personas.bob)
    client.post("/accounts/login/", {"login": "bob", "password": PASSWORD})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    response = client.post("/accounts/password/change/", {"oldpassword": "wrong", "password1": "x", "password2": "y"})
    page = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'<ul class="errorlist" id="id_oldpassword_error"><li>Please type your current password', page)
    assert re.search(r'<input [^>]*aria-invalid="true"[^>]*id="id_oldpassword"', page)
    response = client.post(ENROL, {"code": "000000"})
    assert re.search(r'<ul class="errorlist" id="id_code_error"><li>Incorrect code', response.content.decode())


def test_erasure_leaves_no_name_or_address_on_the_talents_invitation(personas):
    from consent.services import talent_erase

    invitation, token = _service_invitation(personas, kind="talent", role="", display_name="Tess Talbot",
                                            email="tess@example.org")
    tess = invitation_accept(token=token, username="tess", password=GOOD_PASSWORD)
    assert Talent.objects.get(user=tess).invited_by == personas.studio  # whose legal staff verify her
    talent_erase(talent=Talent.objects.get(user=tess), acting_user=tess)
    invitation.refresh_from_db()
    assert (invitation.display_name, invitation.email) == ("Erased talent", "")
    assert invitation.status == "accepted"
