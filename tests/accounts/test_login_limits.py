"""Failed sign-ins are limited per account and per address separately: one person's typos lock
their own account, never a colleague signing in from the same address."""

from __future__ import annotations

from tests.accounts.conftest import PASSWORD, with_verified_email

TOO_MANY = "Too many failed login attempts"


def _sign_in(client, login: str, password: str, address: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"login": login, "password": password}, REMOTE_ADDR=address)


def test_one_persons_typos_lock_their_account_but_not_a_colleague_at_the_same_address(client, personas):
    with_verified_email(personas.bob)
    with_verified_email(personas.charlie)
    for _ in range(12):
        _sign_in(client, "bob", "wrong")
    locked = _sign_in(client, "bob", PASSWORD)
    assert TOO_MANY in locked.content.decode() and "_auth_user_id" not in client.session
    colleague = _sign_in(client, "charlie", PASSWORD)
    assert colleague.status_code == 302 and client.session["_auth_user_id"] == str(personas.charlie.pk)


def test_failures_across_many_accounts_from_one_address_stop_that_address_only(client, personas):
    with_verified_email(personas.bob)
    for number in range(20):
        assert TOO_MANY not in _sign_in(client, f"guess{number}", "wrong").content.decode()
    assert TOO_MANY in _sign_in(client, "bob", PASSWORD).content.decode()
    assert "_auth_user_id" not in client.session
    elsewhere = _sign_in(client, "bob", PASSWORD, address="192.0.2.9")
    assert elsewhere.status_code == 302 and client.session["_auth_user_id"] == str(personas.bob.pk)
