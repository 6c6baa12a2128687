"""Helpers for the accounts tests: verified emails, TOTP codes, a clean rate-limit cache."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

import pytest

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def clean_cache(empty_cache):  # type: ignore[no-untyped-def]
    """Every accounts test signs in: each starts with an empty cache."""


def with_verified_email(user, *, verified: bool = True):  # type: ignore[no-untyped-def]
    """Give a persona an email address (personas have none) and a known password."""
    from allauth.account.models import EmailAddress

    user.email = f"{user.username}@example.com"
    user.set_password(PASSWORD)
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=verified, primary=True)
    return user


def totp_code(secret: str) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s), written independently of allauth's implementation."""
    if 30 - time.time() % 30 < 2:  # do not hand out a code that expires before it is checked
        time.sleep(2.1)
    counter = int(time.time()) // 30
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"
