"""A talent's data export (GDPR Art. 15 and 20): every record about them, and their files.

The archive holds `data.json` and the decrypted files: reference photos and likeness
models. It is built in memory and handed to the talent; nothing of it is stored.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.forms.models import model_to_dict

from audit.actors import user_actor
from audit.models import AuditEvent
from audit.services import audit_append
from core.errors import NotAllowed
from consent.models import (
    IdentityVerification,
    LicenseRevocation,
    LicenseSuspension,
    LicenseUse,
    LikenessLicense,
    LikenessModel,
    ReferencePhoto,
    Representation,
    SignatureEvent,
    Talent,
    UseApproval,
)
from consent.vault import vault_get


def _rows(queryset: Any, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [model_to_dict(row, exclude=list(exclude)) | {"id": str(row.pk)} for row in queryset]


def talent_export(*, talent: Talent, acting_user: AbstractBaseUser,
                  related: dict[str, list[dict[str, Any]]] | None = None) -> bytes:
    """`related`: records other apps keep about the talent (their renders, say), added as they are."""
    if acting_user.pk != talent.user_id:
        raise NotAllowed("Only the talent can export their data.")
    licenses = LikenessLicense.objects.filter(talent=talent)
    photos = ReferencePhoto.objects.filter(talent=talent, deleted_at__isnull=True)
    models = LikenessModel.objects.filter(talent=talent, status=LikenessModel.Status.ACTIVE)
    subjects = [f"talent:{talent.id}"] + [f"license:{i}" for i in licenses.values_list("id", flat=True)] + \
        [f"likeness_model:{i}" for i in LikenessModel.objects.filter(talent=talent).values_list("id", flat=True)]
    user = talent.user
    data = {
        "account": {"username": user.get_username(), "email": getattr(user, "email", ""),
                    "name": user.get_full_name(), "joined": user.date_joined.isoformat()},
        "talent": {"id": str(talent.id), "display_name": talent.display_name, "enrolled": talent.created_at.isoformat()},
        "identity_verifications": _rows(IdentityVerification.objects.filter(talent=talent)),
        "representations": _rows(Representation.objects.filter(talent=talent)),
        "licenses": _rows(licenses),
        "signatures": _rows(SignatureEvent.objects.filter(license__talent=talent)),
        "suspensions": _rows(LicenseSuspension.objects.filter(license__talent=talent)),
        "revocations": _rows(LicenseRevocation.objects.filter(license__talent=talent)),
        "published_uses": _rows(LicenseUse.objects.filter(license__talent=talent)),
        "use_approvals": _rows(UseApproval.objects.filter(license__talent=talent)),
        "reference_photos": _rows(photos, exclude=("stored_name",)),
        "likeness_models": _rows(LikenessModel.objects.filter(talent=talent), exclude=("stored_name",)),
        "audit_events": [json.loads(body) for body in AuditEvent.objects.filter(
            Q(subject__in=subjects) | Q(actor=user_actor(user))).order_by("seq").values_list("body", flat=True)],
        **(related or {}),
    }
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("data.json", json.dumps(data, indent=2, sort_keys=True, default=str))
        for photo in photos:
            zipped.writestr(f"reference_photos/{photo.id}.png",
                            vault_get(talent_id=talent.id, object_ref=photo.object_ref, name=photo.stored_name))
        for model in models:
            zipped.writestr(f"likeness_models/{model.id}.safetensors",
                            vault_get(talent_id=talent.id, object_ref=model.object_ref, name=model.stored_name))
    audit_append(action="talent.exported", actor=user_actor(acting_user), subject=f"talent:{talent.id}")
    return archive.getvalue()
