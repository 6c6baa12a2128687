"""Sealed objects in storage: likeness data is written and read only through here."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from consent.keys import seal, unseal


def vault_put(*, talent_id: object, object_ref: str, plaintext: bytes, name: str) -> str:
    """Seal and store; returns the storage name (the caller deletes it if its transaction fails)."""
    return default_storage.save(name, ContentFile(seal(talent_id=talent_id, object_ref=object_ref, plaintext=plaintext)))


def vault_get(*, talent_id: object, object_ref: str, name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        sealed = handle.read()
    return unseal(talent_id=talent_id, object_ref=object_ref, sealed=sealed)


def vault_delete(name: str) -> None:
    if name and default_storage.exists(name):
        default_storage.delete(name)
