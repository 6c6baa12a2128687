"""Account changes made outside the allauth pages (bootstrap, tests, operator tooling)."""

from __future__ import annotations

from allauth.mfa.adapter import get_adapter
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from core.stepup import totp_authenticators


def totp_secret(*, user: AbstractBaseUser) -> str | None:
    """The user's TOTP secret (base32), decrypted; None when they have no authenticator app."""
    authenticator = totp_authenticators(user.pk).first()
    return get_adapter().decrypt(authenticator.data["secret"]) if authenticator else None


@transaction.atomic
def totp_enrol(*, user: AbstractBaseUser) -> str:
    """Give the user a TOTP authenticator with a fresh secret unless they have one; returns the secret."""
    existing = totp_secret(user=user)
    if existing is not None:
        return existing
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret
