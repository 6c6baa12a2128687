"""allauth adapters: MFA secrets (TOTP keys, recovery-code seeds) encrypted at rest; sign-up for viewers only.

allauth stores them in `Authenticator.data` and passes every value through the MFA
adapter's `encrypt`/`decrypt`. Here they are sealed with AES-256-GCM under a key
derived (HKDF-SHA256) from BESPOKE_MASTER_KEY, so a database dump alone does not
yield anyone's second factor.
"""

from __future__ import annotations

import base64
import os
import time
from functools import lru_cache
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

PREFIX = "bsk1:"
KEY_INFO = b"bespoke/v1|mfa-secrets"
NONCE_BYTES = 12


class MFASecretUnreadable(Exception):
    """A stored MFA secret is not a Bespoke ciphertext or does not open under the current key."""


@lru_cache(maxsize=4)
def _aead(master_key_b64: str) -> AESGCM:
    try:
        master_key = base64.b64decode(master_key_b64, validate=True)
    except ValueError:
        raise ImproperlyConfigured("BESPOKE_MASTER_KEY must be base64") from None
    if len(master_key) != 32:
        raise ImproperlyConfigured("BESPOKE_MASTER_KEY must decode to 32 bytes (MFA secrets are encrypted under it)")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(master_key)
    return AESGCM(key)


def seal_secret(text: str) -> str:
    """Encrypt one secret: "bsk1:" + urlsafe base64 of nonce and ciphertext."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + _aead(settings.BESPOKE_MASTER_KEY).encrypt(nonce, text.encode("utf-8"), KEY_INFO)
    return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")


def open_secret(stored: str) -> str:
    """Decrypt what `seal_secret` made; anything else (a plaintext secret included) raises."""
    if not isinstance(stored, str) or not stored.startswith(PREFIX):
        raise MFASecretUnreadable("the stored MFA secret is not encrypted")
    try:
        sealed = base64.urlsafe_b64decode(stored[len(PREFIX):].encode("ascii"))
        plaintext = _aead(settings.BESPOKE_MASTER_KEY).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], KEY_INFO)
    except (ValueError, InvalidTag):
        raise MFASecretUnreadable("the stored MFA secret does not open under BESPOKE_MASTER_KEY") from None
    return plaintext.decode("utf-8")


class BespokeMFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return seal_secret(text)

    def decrypt(self, encrypted_text: str) -> str:
        return open_secret(encrypted_text)


class BespokeAccountAdapter(DefaultAccountAdapter):
    """allauth's sign-up makes viewers only (accounts.viewer_signup), while BESPOKE_VIEWER_SIGNUP
    is on; talent and studio staff come from invitations (accounts.invitations), verifiers from
    operator tooling."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(settings.BESPOKE_VIEWER_SIGNUP)

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """A sign-in within ACCOUNT_REAUTHENTICATION_TIMEOUT counts as a confirmation, as it
        does for `core.stepup`. allauth itself counts only its reauthentication pages, so a
        person who has just signed in (or just created their account from an invitation) would
        be asked for the same password again before enrolling an authenticator app."""
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        request = context.request
        return request is None or not _signed_in_recently(request)


def _signed_in_recently(request: HttpRequest) -> bool:
    oldest = time.time() - settings.ACCOUNT_REAUTHENTICATION_TIMEOUT
    return any(record.get("method") in ("password", "mfa") and record.get("at", 0) > oldest
               for record in get_authentication_records(request, request.user))
