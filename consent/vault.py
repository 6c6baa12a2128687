"""Sealed objects in storage: likeness data is written and read only through here."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.files.storage import default_storage

from consent.keys import seal, unseal
from core.object_storage import storage_save_path


def vault_put(*, talent_id: object, object_ref: str, plaintext: bytes, name: str) -> str:
    """Seal and store; returns the storage name (the caller deletes it if its transaction fails).

    The sealed bytes go to the store from a temporary file, part by part, so a large object
    (a likeness model) is in memory once as plaintext and once sealed while it is sealed, and
    no further copy is made for the upload."""
    sealed = seal(talent_id=talent_id, object_ref=object_ref, plaintext=plaintext)
    with tempfile.TemporaryDirectory(prefix="bespoke-seal-") as folder:
        path = Path(folder) / "sealed"
        path.write_bytes(sealed)
        del sealed
        return storage_save_path(name, path)


def vault_get(*, talent_id: object, object_ref: str, name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        sealed = handle.read()
    return unseal(talent_id=talent_id, object_ref=object_ref, sealed=sealed)


def vault_delete(name: str) -> None:
    if name and default_storage.exists(name):
        default_storage.delete(name)
