"""What generation may do with likeness data, through consent: read a license's reference
photos for training, register trained weights, read them for a render. Also the rule
that destroys a likeness model once no license in force allows it.

Plaintext returned here lives only in the caller's memory for the length of one job.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.services import audit_append
from core.locking import Rank, lock_rows
from consent.gate import license_refusal
from consent.models import LikenessLicense, LikenessModel, ReferencePhoto
from consent.vault import vault_delete, vault_get, vault_put

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingMaterial:
    talent_id: str
    photos: list[bytes]  # re-encoded PNGs at the training resolution


def training_material(*, license_id: str) -> TrainingMaterial:
    license = LikenessLicense.objects.get(pk=license_id)
    photos = ReferencePhoto.objects.filter(talent_id=license.talent_id, deleted_at__isnull=True).order_by("created_at")
    return TrainingMaterial(str(license.talent_id), [
        vault_get(talent_id=license.talent_id, object_ref=photo.object_ref, name=photo.stored_name) for photo in photos])


def reference_photo_count(*, license_id: str) -> int:
    return ReferencePhoto.objects.filter(talent__licenses__id=license_id, deleted_at__isnull=True).count()


def likeness_model_register(*, license_id: str, training_ref: str, weights: bytes, rank: int, alpha: float,
                            instance_prompt: str, actor: str) -> LikenessModel:
    """Seal and store trained weights; must run inside the transaction that completes the
    training job, so the model exists exactly when the job succeeded."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("likeness_model_register must run inside the completing transaction")
    license = LikenessLicense.objects.get(pk=license_id)
    model = LikenessModel(talent_id=license.talent_id, licensee_id=license.licensee_id, license=license,
                          training_ref=training_ref, weights_sha256=hashlib.sha256(weights).hexdigest(), rank=rank,
                          alpha=alpha, instance_prompt=instance_prompt)
    stored = vault_put(talent_id=license.talent_id, object_ref=model.object_ref, plaintext=weights,
                       name=f"likeness/{license.talent_id}/models/{model.id}.sealed")
    model.stored_name = stored
    try:
        model.save()
        audit_append(action="likeness_model.created", actor=actor, subject=f"likeness_model:{model.id}",
                     data={"license": str(license.id), "training": training_ref, "weights_sha256": model.weights_sha256})
    except BaseException:
        vault_delete(stored)
        raise
    return model


@dataclass(frozen=True)
class LikenessWeights:
    model_id: str
    weights: bytes
    weights_sha256: str


def likeness_model_weights(*, model_id: str) -> LikenessWeights:
    model = LikenessModel.objects.get(pk=model_id, status=LikenessModel.Status.ACTIVE)
    weights = vault_get(talent_id=model.talent_id, object_ref=model.object_ref, name=model.stored_name)
    return LikenessWeights(str(model.id), weights, model.weights_sha256)


def likeness_model_usable(model: LikenessModel) -> bool:
    """Whether the license a model was trained under, or an amendment of it, is in force and allows it."""
    current: LikenessLicense | None = model.license
    seen = set()
    while current is not None and current.pk not in seen:
        seen.add(current.pk)
        if current.allows_likeness_model and license_refusal(current)[0] is None:
            return True
        current = LikenessLicense.objects.filter(previous=current).first()
    return False


def likeness_models_retire(*, license: LikenessLicense, reason: str, actor: str) -> list[str]:
    """Destroy the talent's likeness models for this licensee that no license in force
    allows any more. Runs inside the caller's transaction; blobs go after commit."""
    destroyed = []
    for model in lock_rows(LikenessModel.objects.select_for_update(of=("self",)).select_related("license").filter(
            talent_id=license.talent_id, licensee_id=license.licensee_id, status=LikenessModel.Status.ACTIVE),
            Rank.LIKENESS_MODEL):
        if not likeness_model_usable(model):
            _destroy(model, reason=reason, actor=actor)
            destroyed.append(str(model.id))
    return destroyed


def _destroy(model: LikenessModel, *, reason: str, actor: str) -> None:
    stored = model.stored_name
    model.status = LikenessModel.Status.DESTROYED
    model.destroyed_at = timezone.now()
    model.destroyed_reason = reason
    model.stored_name = ""
    model.save(update_fields=["status", "destroyed_at", "destroyed_reason", "stored_name"])
    audit_append(action="likeness_model.destroyed", actor=actor, subject=f"likeness_model:{model.id}",
                 data={"reason": reason})
    transaction.on_commit(lambda: vault_delete(stored))


def likeness_models_destroy_for_talent(*, talent_id: object, reason: str, actor: str) -> list[str]:
    destroyed = []
    for model in lock_rows(LikenessModel.objects.select_for_update().filter(
            talent_id=talent_id, status=LikenessModel.Status.ACTIVE), Rank.LIKENESS_MODEL):
        _destroy(model, reason=reason, actor=actor)
        destroyed.append(str(model.id))
    return destroyed


def likeness_models_sweep(*, actor: str) -> list[str]:
    """Destroy models whose licenses all lapsed (expiry needs no event to act on)."""
    destroyed = []
    for model_id in LikenessModel.objects.filter(status=LikenessModel.Status.ACTIVE).values_list("id", flat=True):
        with transaction.atomic():
            still_active = lock_rows(LikenessModel.objects.select_for_update(of=("self",)).select_related("license")
                                     .filter(pk=model_id, status=LikenessModel.Status.ACTIVE), Rank.LIKENESS_MODEL)
            for model in still_active:
                if not likeness_model_usable(model):
                    _destroy(model, reason="license_lapsed", actor=actor)
                    destroyed.append(str(model.id))
    return destroyed
