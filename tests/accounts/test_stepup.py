"""Step-up for high-risk actions: a recent authentication, by MFA where the user has it (SEC-6)."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from accounts.services import totp_enrol
from core.stepup import (
    OTP_HEADER,
    MFAEnrolmentRequired,
    StepUpRequired,
    reauthentication_url,
    require_step_up,
    user_has_mfa,
)
from tests.accounts.conftest import PASSWORD, totp_code, with_verified_email


def _request(client, user, *, method: str = "post", otp: str | None = None):  # type: ignore[no-untyped-def]
    """A request to some high-risk endpoint, carrying the test client's session."""
    headers = {OTP_HEADER: otp} if otp is not None else {}
    request = getattr(RequestFactory(), method)("/api/v1/licenses/1/sign", headers=headers)
    request.user = user
    request.session = client.session
    return request


def _sign_in_with_mfa(client, user) -> None:  # type: ignore[no-untyped-def]
    secret = totp_enrol(user=with_verified_email(user))
    response = client.post("/accounts/login/", {"login": user.username, "password": PASSWORD})
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})["Location"] == "/"


def test_nobody_passes_without_a_recent_authentication(client, personas):
    client.force_login(personas.bob)
    with pytest.raises(StepUpRequired) as refused:
        require_step_up(_request(client, personas.bob))
    assert refused.value.as_dict()["code"] == "reauthentication_required"
    with pytest.raises(StepUpRequired):
        require_step_up(_request(client, AnonymousUser()))


def test_a_fresh_mfa_sign_in_passes_until_it_is_older_than_the_timeout(client, personas, monkeypatch):
    _sign_in_with_mfa(client, personas.dana)
    assert require_step_up(_request(client, personas.dana), require_mfa=True) == "mfa"
    later = time.time() + 301
    monkeypatch.setattr("core.stepup.time.time", lambda: later)
    with pytest.raises(StepUpRequired):
        require_step_up(_request(client, personas.dana), require_mfa=True)
    assert require_step_up(_request(client, personas.dana), require_mfa=True, max_age_seconds=600) == "mfa"


def test_mfa_reauthentication_in_the_portal_passes(client, personas):
    secret = totp_enrol(user=personas.dana)
    client.force_login(personas.dana)
    response = client.post("/accounts/2fa/reauthenticate/?next=/licenses/", {"code": totp_code(secret)})
    assert response.status_code == 302 and response["Location"] == "/licenses/"
    assert require_step_up(_request(client, personas.dana), require_mfa=True) == "mfa"


def test_a_password_reauthentication_is_not_enough_for_a_user_with_mfa(client, personas):
    totp_enrol(user=with_verified_email(personas.dana))
    client.force_login(personas.dana)
    assert client.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    for require_mfa in (False, True):
        with pytest.raises(StepUpRequired):
            require_step_up(_request(client, personas.dana), require_mfa=require_mfa)


def test_a_password_reauthentication_is_enough_only_where_mfa_is_not_required(client, personas):
    with_verified_email(personas.bob)
    client.force_login(personas.bob)
    assert client.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    assert require_step_up(_request(client, personas.bob)) == "password"
    with pytest.raises(MFAEnrolmentRequired):
        require_step_up(_request(client, personas.bob), require_mfa=True)


def test_a_user_without_a_usable_password_never_passes_on_a_password_record(client, personas):
    with_verified_email(personas.bob)
    client.force_login(personas.bob)
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    personas.bob.set_unusable_password()
    personas.bob.save()
    with pytest.raises(MFAEnrolmentRequired):
        require_step_up(_request(client, personas.bob))


def test_require_mfa_refuses_a_user_without_an_authenticator(client, personas):
    client.force_login(personas.alice)
    assert not user_has_mfa(personas.alice)
    with pytest.raises(MFAEnrolmentRequired) as refused:
        require_step_up(_request(client, personas.alice, otp="123456"), require_mfa=True)
    assert refused.value.as_dict()["code"] == "mfa_required"


def test_an_api_client_steps_up_with_a_one_time_code_header(client, personas):
    secret = totp_enrol(user=personas.alice)
    client.force_login(personas.alice)
    code = totp_code(secret)
    stepped_up = _request(client, personas.alice, otp=code)
    assert require_step_up(stepped_up, require_mfa=True) == "mfa"
    follow_up = _request(client, personas.alice)
    follow_up.session = stepped_up.session  # the good code was recorded as an MFA reauthentication
    assert require_step_up(follow_up, require_mfa=True) == "mfa"
    with pytest.raises(StepUpRequired):  # a code is good once
        require_step_up(_request(client, personas.alice, otp=code), require_mfa=True)
    with pytest.raises(StepUpRequired) as refused:
        require_step_up(_request(client, personas.alice, otp="not-a-code"), require_mfa=True)
    assert refused.value.field == OTP_HEADER
    with pytest.raises(StepUpRequired):  # safe methods are not rate-limited, so they take no codes
        require_step_up(_request(client, personas.alice, method="get", otp=totp_code(secret)))


def test_guessing_one_time_codes_is_rate_limited(client, personas):
    secret = totp_enrol(user=personas.alice)
    client.force_login(personas.alice)
    for _ in range(5):
        with pytest.raises(StepUpRequired):
            require_step_up(_request(client, personas.alice, otp="000000"))
    with pytest.raises(StepUpRequired) as refused:
        require_step_up(_request(client, personas.alice, otp=totp_code(secret)))
    assert "Too many" in refused.value.message


def test_the_portal_sends_each_user_to_the_reauthentication_that_will_pass(client, personas):
    totp_enrol(user=personas.dana)
    assert reauthentication_url(_request(client, personas.dana), next_url="/licenses/1/") == \
        "/accounts/2fa/reauthenticate/?next=%2Flicenses%2F1%2F"
    assert reauthentication_url(_request(client, personas.bob), next_url="/x") == "/accounts/reauthenticate/?next=%2Fx"
