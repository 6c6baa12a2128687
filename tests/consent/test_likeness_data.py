"""Invariant 4: reference photos are checked, re-encoded and stored sealed per talent;
keys bind talent and object; erasure shreds everything."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from PIL import Image

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from core.errors import NotAllowed, ValidationFailed
from bespoke.synthetic_faces import synthetic_face_photos
from consent import keys, services
from consent.models import ReferencePhoto, Talent
from consent.vault import vault_get

pytestmark = pytest.mark.django_db


def _media_files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def bea(personas) -> Talent:  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user(username="bea", password="pw-beabeabea")
    return services.talent_enrol(user=user, display_name="Bea Brown", acting_user=user)


def test_a_sealed_object_opens_only_for_its_talent_and_its_object(personas, bea):
    sealed = keys.seal(talent_id=personas.talent.id, object_ref="reference_photo:1", plaintext=b"likeness")
    assert b"likeness" not in sealed
    assert keys.unseal(talent_id=personas.talent.id, object_ref="reference_photo:1", sealed=sealed) == b"likeness"
    keys.seal(talent_id=bea.id, object_ref="reference_photo:1", plaintext=b"x")  # Bea has a key too
    with pytest.raises(keys.DecryptionFailed):
        keys.unseal(talent_id=bea.id, object_ref="reference_photo:1", sealed=sealed)
    with pytest.raises(keys.DecryptionFailed):
        keys.unseal(talent_id=personas.talent.id, object_ref="reference_photo:2", sealed=sealed)
    with pytest.raises(keys.DecryptionFailed):
        tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
        keys.unseal(talent_id=personas.talent.id, object_ref="reference_photo:1", sealed=tampered)


def test_data_keys_are_stored_only_wrapped(personas):
    keys.seal(talent_id=personas.talent.id, object_ref="x", plaintext=b"y")
    key = personas.talent.data_key
    assert len(bytes(key.wrapped_key)) == 12 + 32 + 16 and key.provider_key_id.startswith("local:")


def test_a_reference_photo_is_re_encoded_stripped_and_stored_sealed(personas, settings):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise on display
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
    source = Image.new("RGB", (300, 200), (200, 30, 30))
    raw = io.BytesIO()
    source.save(raw, format="JPEG", exif=exif)
    photo = services.reference_photo_add(talent=personas.talent, data=raw.getvalue(), filename="me.jpeg",
                                         acting_user=personas.alice)
    stored = _media_files(settings)
    assert len(stored) == 1 and not stored[0].read_bytes().startswith(b"\x89PNG")
    plain = vault_get(talent_id=personas.talent.id, object_ref=photo.object_ref, name=photo.stored_name)
    with Image.open(io.BytesIO(plain)) as image:
        assert image.format == "PNG" and image.size == (max(settings.BESPOKE_TRAINING_RESOLUTION, settings.BESPOKE_PHOTO_STORED_SIDE),) * 2
        assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
    assert AuditEvent.objects.filter(action="likeness.photo_added").count() == 1


def _bilevel_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("data, filename, message", [
    (b"%PDF-1.7 not an image", "me.jpg", "not a JPEG, PNG or WebP"),
    (b"", "me.png", "empty"),
    (_png(300, 300)[:200], "me.png", "damaged or truncated"),
    (b"\0" * (2 * 1024 * 1024), "me.png", "limit is 1 MB"),
    (8_000, "me.png", "pixels; the limit"),  # a small file declaring 64 megapixels
    (20_000, "me.png", "too many pixels"),  # 400 megapixels: a decompression bomb
    (b"GIF89a" + b"\0" * 200, "me.png", "not a JPEG, PNG or WebP"),
    (_png(300, 300), "me.jpg", "named as JPEG but is a PNG"),
    (_png(300, 300), "me.svg", "Upload a JPEG, PNG or WebP"),
    (_png(100, 300), "me.png", "at least 128 pixels"),
])
def test_unsafe_or_unusable_uploads_are_refused_and_store_nothing(personas, settings, data, filename, message):
    settings.BESPOKE_PHOTO_MAX_BYTES = 1024 * 1024
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed, match=message) as error:
        services.reference_photo_add(talent=personas.talent, data=_bilevel_png(data) if isinstance(data, int) else data,
                                     filename=filename, acting_user=personas.alice)
    assert error.value.field == "photo"
    assert not ReferencePhoto.objects.exists() and not _media_files(settings)
    assert AuditEvent.objects.count() == before


def test_only_the_talent_adds_their_photos(personas, settings):
    with pytest.raises(NotAllowed):
        services.reference_photo_add(talent=personas.talent, data=synthetic_face_photos(1)[0], filename="a.jpg",
                                     acting_user=personas.bob)
    assert not _media_files(settings)


def test_after_erasure_nothing_of_the_talent_decrypts_and_the_audit_chain_verifies(personas, active_license, settings):
    photos = [services.reference_photo_add(talent=personas.talent, data=data, filename="a.jpg", acting_user=personas.alice)
              for data in synthetic_face_photos(2)]
    sealed = keys.seal(talent_id=personas.talent.id, object_ref="identity_evidence:1", plaintext=b"passport scan")
    result = services.talent_erase(talent=personas.talent, acting_user=personas.alice)
    assert result["revoked_licenses"] == [str(active_license.id)]
    with pytest.raises(keys.KeyDestroyed):
        keys.unseal(talent_id=personas.talent.id, object_ref="identity_evidence:1", sealed=sealed)
    with pytest.raises(keys.KeyDestroyed):
        keys.seal(talent_id=personas.talent.id, object_ref="reference_photo:new", plaintext=b"x")
    for photo in photos:
        photo.refresh_from_db()
        assert photo.deleted_at is not None and photo.stored_name == ""
    personas.talent.refresh_from_db()
    assert personas.talent.display_name == "Erased talent"
    assert audit_chain_verify().ok
    assert not any("Alice" in body for body in AuditEvent.objects.values_list("body", flat=True))
