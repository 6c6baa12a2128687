"""Per-talent envelope encryption (invariant 4) and crypto-shredding.

Each talent has one random 256-bit data key, stored only wrapped by the key provider
(a local master key by default; a KMS can replace it). Objects are sealed with
AES-256-GCM; the associated data names the talent and the object, so a ciphertext
moved to another talent or another object does not open. Destroying the wrapped key
makes everything sealed for that talent unreadable for good.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from consent.key_ledger import destroyed_key_record
from consent.models import TalentKey

ENVELOPE_VERSION = b"BSK1"
NONCE_BYTES = 12
TAG_BYTES = 16


class KeyDestroyed(Exception):
    """The talent's key was destroyed (erasure): their data can never be read again."""


class DecryptionFailed(Exception):
    """The ciphertext does not open with this talent's key for this object."""


class KeyProvider(Protocol):
    key_id: str

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes: ...


class LocalMasterKeyProvider:
    """Wraps data keys with AES-256-GCM under a master key from BESPOKE_MASTER_KEY."""

    def __init__(self, master_key_b64: str | None = None) -> None:
        raw = master_key_b64 if master_key_b64 is not None else settings.BESPOKE_MASTER_KEY
        try:
            key = base64.b64decode(raw, validate=True)
        except (ValueError, TypeError):
            raise ImproperlyConfigured("BESPOKE_MASTER_KEY must be base64") from None
        if len(key) != 32:
            raise ImproperlyConfigured("BESPOKE_MASTER_KEY must decode to 32 bytes")
        self._aead = AESGCM(key)
        self.key_id = "local:" + hmac.new(key, b"bespoke key id", hashlib.sha256).hexdigest()[:16]

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, context)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
        except InvalidTag:
            raise DecryptionFailed("the data key does not unwrap under this master key") from None


@lru_cache(maxsize=4)
def _provider(path: str) -> KeyProvider:
    return import_string(path)()


def key_provider() -> KeyProvider:
    return _provider(settings.BESPOKE_KEY_PROVIDER)


def _wrap_context(talent_id: object) -> bytes:
    return f"bespoke/v1|talent-key|{talent_id}".encode()


def _object_context(talent_id: object, object_ref: str) -> bytes:
    return f"bespoke/v1|talent:{talent_id}|{object_ref}".encode()


def _data_key(talent_id: object, *, create: bool) -> bytes:
    key = TalentKey.objects.filter(talent_id=talent_id).first()
    if key is None:
        if not create:
            raise DecryptionFailed("this talent has no data key")
        with transaction.atomic():
            data_key = AESGCM.generate_key(bit_length=256)
            provider = key_provider()
            key, _ = TalentKey.objects.get_or_create(talent_id=talent_id, defaults={
                "wrapped_key": provider.wrap(data_key, context=_wrap_context(talent_id)), "provider_key_id": provider.key_id})
    if key.destroyed_at is not None or key.wrapped_key is None:
        raise KeyDestroyed("this talent's data was erased")
    return key_provider().unwrap(bytes(key.wrapped_key), context=_wrap_context(talent_id))


def seal(*, talent_id: object, object_ref: str, plaintext: bytes) -> bytearray:
    """The sealed object: version, nonce, then the ciphertext and its tag, encrypted in place
    into one buffer (a likeness model is held once as plaintext and once sealed, no more)."""
    nonce = os.urandom(NONCE_BYTES)
    aead = AESGCM(_data_key(talent_id, create=True))
    header = len(ENVELOPE_VERSION) + NONCE_BYTES
    sealed = bytearray(header + len(plaintext) + TAG_BYTES)
    sealed[:header] = ENVELOPE_VERSION + nonce
    aead.encrypt_into(nonce, plaintext, _object_context(talent_id, object_ref), memoryview(sealed)[header:])
    return sealed


def unseal(*, talent_id: object, object_ref: str, sealed: bytes | bytearray) -> bytes:
    if not sealed.startswith(ENVELOPE_VERSION):
        raise DecryptionFailed("not a sealed Bespoke object")
    body = memoryview(sealed)[len(ENVELOPE_VERSION):]  # slices of a view copy nothing
    aead = AESGCM(_data_key(talent_id, create=False))
    try:
        return aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], _object_context(talent_id, object_ref))
    except InvalidTag:
        raise DecryptionFailed(f"{object_ref} does not open with this talent's key") from None


def talent_key_destroy(*, talent_id: object) -> bool:
    """Crypto-shred: drop the wrapped key. Returns whether there was a key to destroy.

    The destruction is first written to the ledger outside the database (consent.key_ledger),
    so that restoring an older database backup cannot bring the key back."""
    now = timezone.now()
    key_id = TalentKey.objects.filter(talent_id=talent_id).values_list("pk", flat=True).first()
    destroyed_key_record(talent_id=talent_id, key_id=key_id if key_id is not None else "none", destroyed_at=now)
    return bool(TalentKey.objects.filter(talent_id=talent_id, destroyed_at__isnull=True)
                .update(wrapped_key=None, destroyed_at=now))
