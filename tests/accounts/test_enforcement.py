"""MFA is enforced for legal staff (SEC-6): enrolment or nothing, on the portal and on the API."""

from __future__ import annotations

from allauth.mfa.models import Authenticator

from accounts.services import totp_enrol
from accounts.mfa import mfa_enrolment_required
from tests.accounts.conftest import PASSWORD, totp_code, with_verified_email

ENROL = "/accounts/2fa/totp/activate/"
REAUTHENTICATE = "/accounts/reauthenticate/?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F"


def test_legal_without_mfa_is_sent_to_enrolment_from_every_portal_page(client, personas):
    client.force_login(personas.dana)
    for path in ("/", "/admin/", "/some/portal/page/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == ENROL, path


def test_legal_without_mfa_gets_a_403_error_on_the_api_that_says_what_to_do(client, personas):
    from consent.models import LikenessLicense

    client.force_login(personas.erin)
    draft = {"talent": str(personas.talent.id), "licensee": str(personas.studio.id), "project": "Night Market"}
    for method, body in ((client.get, None), (client.post, draft)):
        response = method("/api/v1/licenses/", body, content_type="application/json")
        assert response.status_code == 403
        error = response.json()
        assert (error["code"], error["field"]) == ("mfa_required", None)
        assert error["message"] == "Set up an authenticator app for your account (in the portal) first."
    assert not LikenessLicense.objects.exists(), "the refused request reached no service"
    totp_enrol(user=personas.erin)
    assert client.get("/api/v1/licenses/").status_code == 200, "once enrolled, the same request passes"


def test_account_pages_health_and_verify_stay_reachable_without_mfa(client, personas):
    client.force_login(personas.dana)
    for path in ("/accounts/logout/", "/accounts/2fa/", "/accounts/email/", "/healthz", "/verify/"):
        assert client.get(path).status_code == 200, path


def test_legal_with_mfa_producers_and_talent_without_it_use_the_portal(client, personas):
    totp_enrol(user=personas.dana)
    for user in (personas.dana, personas.bob, personas.alice):
        client.force_login(user)
        assert client.get("/").status_code == 200, user


def test_a_legal_user_enrols_through_allauth_and_the_secrets_are_stored_encrypted(client, personas,
                                                                                 django_capture_on_commit_callbacks):
    dana = with_verified_email(personas.dana)
    assert client.post("/accounts/login/", {"login": "dana", "password": PASSWORD}).status_code == 302
    response = client.get("/", follow=True)
    # Signed in a moment ago: the QR code shows without asking for the password again.
    assert [url for url, _ in response.redirect_chain] == [ENROL]
    assert response.status_code == 200 and b"<title>" in response.content and b"Sign out dana" in response.content
    secret = response.context["form"].secret
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ENROL, {"code": totp_code(secret)})
    assert response.status_code == 302
    stored = {a.type: a.data for a in Authenticator.objects.filter(user=dana)}
    assert stored[Authenticator.Type.TOTP]["secret"].startswith("bsk1:") and secret not in str(stored)
    assert stored[Authenticator.Type.RECOVERY_CODES]["seed"].startswith("bsk1:")
    assert client.get("/").status_code == 200
    from audit.models import AuditEvent

    events = AuditEvent.objects.filter(action="account.mfa_added", subject=f"user:{dana.pk}")
    assert {'"type":"totp"' in e.body or '"type":"recovery_codes"' in e.body for e in events} == {True}
    assert len(events) == 2 and not any(secret in e.body for e in events)


def test_a_sign_in_older_than_the_timeout_is_confirmed_again_before_enrolment(client, personas, settings):
    with_verified_email(personas.dana)
    assert client.post("/accounts/login/", {"login": "dana", "password": PASSWORD}).status_code == 302
    session = client.session
    for record in session["account_authentication_methods"]:
        record["at"] -= settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 1
    session.save()
    response = client.get(ENROL)
    assert response.status_code == 302 and response["Location"] == REAUTHENTICATE
    response = client.post(REAUTHENTICATE, {"password": PASSWORD}, follow=True)
    assert response.status_code == 200 and "form" in response.context and response.context["form"].secret


def test_the_enrolment_rule_covers_legal_and_staff_users_only(personas):
    personas.charlie.is_staff = True
    personas.charlie.save()
    assert [mfa_enrolment_required(user) for user in (personas.dana, personas.erin, personas.charlie)] == [True] * 3
    assert [mfa_enrolment_required(user) for user in (personas.alice, personas.bob)] == [False] * 2
    totp_enrol(user=personas.dana)
    assert not mfa_enrolment_required(personas.dana)


def test_verifiers_must_enrol_too_and_each_answer_is_one_query(personas, django_assert_num_queries):
    personas.charlie.is_staff = True
    personas.charlie.save()
    totp_enrol(user=personas.grace)
    expected = {"frank": True, "grace": False, "dana": True, "charlie": True, "alice": False, "bob": False}
    for name, required in expected.items():
        with django_assert_num_queries(1):
            assert mfa_enrolment_required(getattr(personas, name)) is required, name


def test_recovery_codes_alone_do_not_count_as_an_enrolled_authenticator(personas):
    Authenticator.objects.create(user=personas.dana, type=Authenticator.Type.RECOVERY_CODES,
                                 data={"seed": "00" * 20, "used_mask": 0})
    assert mfa_enrolment_required(personas.dana)
