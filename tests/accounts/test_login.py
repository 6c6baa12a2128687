"""Sign-in through allauth: a verified email is required, failed logins are rate-limited (SEC-5)."""

from __future__ import annotations

from django.core import mail

from tests.accounts.conftest import PASSWORD, with_verified_email


def test_an_unverified_user_is_sent_to_email_verification_not_signed_in(client, personas):
    with_verified_email(personas.bob, verified=False)
    response = client.post("/accounts/login/", {"login": "bob", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session
    assert [message.to for message in mail.outbox] == [["bob@example.com"]]


def test_a_verified_user_signs_in_with_username_or_email(client, personas):
    with_verified_email(personas.bob)
    for login in ("bob", "bob@example.com"):
        response = client.post("/accounts/login/", {"login": login, "password": PASSWORD})
        assert response.status_code == 302 and response["Location"] == "/"
        assert client.session["_auth_user_id"] == str(personas.bob.pk)
        client.post("/accounts/logout/")
        assert "_auth_user_id" not in client.session


def test_a_wrong_password_is_shown_next_to_the_form_in_the_portal_frame(client, personas):
    with_verified_email(personas.bob)
    response = client.post("/accounts/login/", {"login": "bob", "password": "wrong"})
    page = response.content.decode()
    assert response.status_code == 200 and "Sign In\n · Bespoke</title>" in page
    assert '<ul class="errorlist nonfield"><li>The username and/or password you specified are not correct.' in page


def test_repeated_failed_logins_for_one_account_are_rate_limited_even_with_the_right_password(client, personas):
    with_verified_email(personas.bob)
    for _ in range(5):
        assert "not correct" in client.post("/accounts/login/", {"login": "bob", "password": "wrong"}).content.decode()
    response = client.post("/accounts/login/", {"login": "bob", "password": PASSWORD})
    assert response.status_code == 429 or "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_limit_is_per_account(client, personas):
    with_verified_email(personas.bob)
    with_verified_email(personas.charlie)
    for _ in range(5):
        client.post("/accounts/login/", {"login": "bob", "password": "wrong"})
    assert client.post("/accounts/login/", {"login": "charlie", "password": PASSWORD}).status_code == 302
