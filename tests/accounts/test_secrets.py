"""TOTP secrets and recovery-code seeds are encrypted at rest (SEC-7, ENC-6)."""

from __future__ import annotations

import base64

import pytest
from allauth.mfa.models import Authenticator

from accounts.adapter import MFASecretUnreadable, open_secret, seal_secret
from accounts.services import totp_enrol, totp_secret
from tests.accounts.conftest import totp_code


def test_the_stored_totp_secret_is_ciphertext_and_the_authenticator_still_verifies(personas):
    secret = totp_enrol(user=personas.dana)
    stored = Authenticator.objects.get(user=personas.dana, type=Authenticator.Type.TOTP)
    column = str(stored.data)
    assert stored.data["secret"].startswith("bsk1:")
    assert secret not in column and secret.lower() not in column
    assert base64.b32decode(secret) and len(secret) == 32
    assert stored.wrap().validate_code(totp_code(secret))
    assert not stored.wrap().validate_code("000000" if totp_code(secret) != "000000" else "111111")


def test_enrolling_twice_keeps_the_first_secret(personas):
    first = totp_enrol(user=personas.alice)
    assert totp_enrol(user=personas.alice) == first == totp_secret(user=personas.alice)
    assert Authenticator.objects.filter(user=personas.alice).count() == 1
    assert totp_secret(user=personas.bob) is None


def test_each_encryption_is_fresh_and_decrypts(settings):
    assert seal_secret("JBSWY3DPEHPK3PXP") != seal_secret("JBSWY3DPEHPK3PXP")
    assert open_secret(seal_secret("JBSWY3DPEHPK3PXP")) == "JBSWY3DPEHPK3PXP"


@pytest.mark.parametrize("stored", ["JBSWY3DPEHPK3PXP", "bsk1:", "bsk1:not-base64!", "bsk1:" + "A" * 40])
def test_anything_but_our_ciphertext_is_refused_loudly(stored):
    with pytest.raises(MFASecretUnreadable):
        open_secret(stored)


def test_a_secret_does_not_open_under_another_master_key(settings):
    sealed = seal_secret("JBSWY3DPEHPK3PXP")
    settings.BESPOKE_MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
    with pytest.raises(MFASecretUnreadable):
        open_secret(sealed)
