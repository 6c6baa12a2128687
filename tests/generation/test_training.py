"""Likeness models: DreamBooth-LoRA from the talent's photos, only when a license allows it,
sealed at rest, reloaded exactly, used by renders only while consent holds."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
from django.db import transaction
from django.utils import timezone

from audit.selectors import audit_chain_verify
from core.errors import NotAllowed, ValidationFailed
from bespoke.synthetic_faces import synthetic_face_photos
from consent import gate, keys, services as consent
from consent.likeness import likeness_model_register, likeness_model_weights, likeness_models_sweep
from consent.models import LikenessLicense, LikenessModel
from generation.models import TrainingJob
from generation.params import training_params_parse
from generation.pipeline.adapters import likeness_adapter
from generation.pipeline.loading import ModelSpec, pipeline_cache
from generation.pipeline.rendering import RenderSettings, render_frames
from generation.pipeline.loading import load_image_pipeline
from generation.pipeline.training import TrainingSettings, decode_png, train_dreambooth_lora, unet_probe
from generation.services import render, training
from tests.conftest import SMALL_RENDER, make_license, sign_context

SAFETENSORS_HEADER_MARK = b'"data_offsets"'


def _spec(root: Path) -> ModelSpec:
    return ModelSpec(base=root / "base", motion_adapter=root / "motion_adapter", device="cpu")


@pytest.fixture(scope="module")
def trained(tiny_model_root):  # type: ignore[no-untyped-def]
    """One LoRA trained on four synthetic talent photos, shared by the pipeline-level tests."""
    from consent.uploads import prepare_reference_photo

    photos = [decode_png(prepare_reference_photo(data, filename="a.jpg", resolution=64, max_bytes=10**7,
                                                 max_pixels=10**7, min_side=64).png)
              for data in synthetic_face_photos(4)]
    pipe = load_image_pipeline(_spec(tiny_model_root), dtype=torch.float32)
    settings = TrainingSettings(instance_prompt="a photo of sks person", class_prompt="a photo of person", steps=60,
                                rank=4, alpha=8, learning_rate=1e-3, resolution=64, num_class_images=2)
    return train_dreambooth_lora(pipe, photos, settings)


def test_training_lowers_the_loss_and_alpha_survives_in_the_file(trained):
    assert trained.eval_loss_after < trained.eval_loss_before
    assert len(trained.losses) == 60
    header_length = int.from_bytes(trained.weights[:8], "little")
    metadata = json.loads(trained.weights[8:8 + header_length])["__metadata__"]
    adapter = json.loads(metadata["lora_adapter_metadata"])
    assert (adapter["unet.r"], adapter["unet.lora_alpha"]) == (4, 8)


@pytest.mark.django_db
def test_the_lora_sealed_unsealed_and_reloaded_reproduces_the_trained_unet_exactly(trained, tiny_model_root, personas):
    sealed = keys.seal(talent_id=personas.talent.id, object_ref="likeness_model:probe", plaintext=trained.weights)
    assert SAFETENSORS_HEADER_MARK not in sealed
    weights = keys.unseal(talent_id=personas.talent.id, object_ref="likeness_model:probe", sealed=sealed)
    pipe = load_image_pipeline(_spec(tiny_model_root), dtype=torch.float32)
    with likeness_adapter(pipe, weights, 1.0):
        reloaded = unet_probe(pipe.unet, cross_attention_dim=pipe.unet.config.cross_attention_dim, sample_size=8)
    base = unet_probe(pipe.unet, cross_attention_dim=pipe.unet.config.cross_attention_dim, sample_size=8)
    assert np.array_equal(reloaded, trained.probe)
    assert not np.array_equal(base, trained.probe)


def test_a_text_encoder_lora_trains_and_reloads(tiny_model_root):
    from bespoke.synthetic_faces import synthetic_face_photos as faces
    from consent.uploads import prepare_reference_photo

    photos = [decode_png(prepare_reference_photo(d, filename="a.jpg", resolution=64, max_bytes=10**7, max_pixels=10**7,
                                                 min_side=64).png) for d in faces(2, seed=5)]
    pipe = load_image_pipeline(_spec(tiny_model_root), dtype=torch.float32)
    lora = train_dreambooth_lora(pipe, photos, TrainingSettings(
        instance_prompt="a photo of sks person", class_prompt="a photo of person", steps=5, rank=2, alpha=2,
        learning_rate=1e-3, resolution=64, prior_preservation=False, train_text_encoder=True))
    assert b"text_encoder." in lora.weights[:20000]
    fresh = load_image_pipeline(_spec(tiny_model_root), dtype=torch.float32)
    ids = fresh.tokenizer("a photo of sks person", return_tensors="pt").input_ids
    with torch.no_grad():
        before = fresh.text_encoder(ids)[0]
        with likeness_adapter(fresh, lora.weights, 1.0):
            during = fresh.text_encoder(ids)[0]
        after = fresh.text_encoder(ids)[0]
    assert not torch.equal(before, during) and torch.equal(before, after)


def test_a_render_with_the_adapter_differs_and_weight_zero_equals_the_base(trained, tiny_model_root):
    loaded = pipeline_cache.get(_spec(tiny_model_root))
    settings = RenderSettings(prompt="a photo of sks person smiling", negative_prompt="", num_frames=4, width=64,
                              height=64, steps=4, guidance_scale=7.5, seed=3)
    base = render_frames(loaded.pipe, settings)
    with likeness_adapter(loaded.pipe, trained.weights, 1.0):
        personalised = render_frames(loaded.pipe, settings)
    with likeness_adapter(loaded.pipe, trained.weights, 0.0):
        weightless = render_frames(loaded.pipe, settings)
    after = render_frames(loaded.pipe, settings)
    assert not np.array_equal(personalised, base)
    assert np.array_equal(weightless, base)
    assert np.array_equal(after, base), "the adapter is unloaded after the job"


# --- through the services ----------------------------------------------------------------

def _upload_photos(personas, count: int = 4) -> None:  # type: ignore[no-untyped-def]
    for data in synthetic_face_photos(count):
        consent.reference_photo_add(talent=personas.talent, data=data, filename="portrait.jpg", acting_user=personas.alice)


def _register(license, weights: bytes) -> LikenessModel:  # type: ignore[no-untyped-def]
    with transaction.atomic():
        return likeness_model_register(license_id=str(license.id), training_ref="t", weights=weights, rank=4, alpha=8,
                                       instance_prompt="a photo of sks person", actor="system:test")


def _media(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.django_db
def test_a_training_job_records_its_loss_and_stores_the_model_sealed(personas, tiny_model, settings):
    license = make_license(personas, excluded=(), allows_likeness_model=True)
    _upload_photos(personas)
    job = training.training_job_request(license_id=str(license.id), acting_user=personas.bob,
                                        params={"steps": 30, "num_class_images": 2})
    job = training.training_job_execute(job_id=str(job.id), worker="w1")
    assert job.status == TrainingJob.Status.SUCCEEDED, job.outcome_message
    assert len(job.loss_history) == 30 and job.progress_step == 30
    assert job.eval_loss_after < job.eval_loss_before
    model = LikenessModel.objects.get(pk=job.likeness_model_id)
    assert (model.status, model.rank, model.alpha) == ("active", 4, 8.0)
    stored = Path(settings.MEDIA_ROOT) / model.stored_name
    assert SAFETENSORS_HEADER_MARK not in stored.read_bytes()
    assert SAFETENSORS_HEADER_MARK in likeness_model_weights(model_id=str(model.id)).weights
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_revocation_during_training_stops_it_and_registers_no_model(personas, tiny_model, settings, monkeypatch):
    settings.BESPOKE_TRAINING_CHECK_SECONDS = 0  # ask the gate at every step
    license = make_license(personas, allows_likeness_model=True)
    _upload_photos(personas)
    job = training.training_job_request(license_id=str(license.id), acting_user=personas.bob,
                                        params={"steps": 20, "prior_preservation": False})
    family = training.model_family()
    real_train = family.train_likeness

    def train_and_revoke_at_step_5(spec, photos, train_settings, on_step):
        def hook(done: int, total: int, loss: float) -> None:
            if done == 5:
                consent.license_revoke(license=license, reason="Withdrawn.", acting_user=personas.alice)
            on_step(done, total, loss)
        return real_train(spec, photos, train_settings, on_step=hook)

    monkeypatch.setattr(family, "train_likeness", train_and_revoke_at_step_5)
    job = training.training_job_execute(job_id=str(job.id), worker="w1")
    assert (job.status, job.outcome_code, job.progress_step) == ("cancelled", "license_revoked", 5)
    assert len(job.loss_history) == 5
    assert not LikenessModel.objects.exists() and not [p for p in _media(settings) if "models" in str(p)]


@pytest.mark.django_db
def test_a_license_without_the_likeness_model_consent_refuses_training(personas, active_license):
    _upload_photos(personas)
    with pytest.raises(gate.ConsentRefused) as refusal:
        training.training_job_request(license_id=str(active_license.id), acting_user=personas.bob)
    assert refusal.value.decision.reason == gate.Reason.LIKENESS_MODEL_NOT_PERMITTED
    assert "does not allow a model of the talent's likeness" in refusal.value.decision.message
    assert not TrainingJob.objects.exists()


@pytest.mark.django_db
def test_training_needs_enough_photos_and_the_licensee(personas):
    license = make_license(personas, allows_likeness_model=True)
    _upload_photos(personas, count=2)
    with pytest.raises(ValidationFailed, match="2 reference photos"):
        training.training_job_request(license_id=str(license.id), acting_user=personas.bob)
    with pytest.raises(NotAllowed):
        training.training_job_request(license_id=str(license.id), acting_user=personas.charlie)


@pytest.mark.django_db
def test_a_training_takes_its_attempts_from_its_own_setting(personas, settings):
    settings.BESPOKE_RENDER_MAX_ATTEMPTS = 2
    settings.BESPOKE_TRAINING_MAX_ATTEMPTS = 5
    license = make_license(personas, allows_likeness_model=True)
    _upload_photos(personas)
    job = training.training_job_request(license_id=str(license.id), acting_user=personas.bob)
    assert job.max_attempts == 5


@pytest.mark.parametrize("raw, field", [({"steps": 0}, "steps"), ({"rank": 1.5}, "rank"), ({"learning_rate": 1}, "learning_rate"),
                                        ({"prior_preservation": "yes"}, "prior_preservation"), ({"class_noun": "cat"}, "class_noun"),
                                        ({"epochs": 3}, "epochs")])
def test_training_parameters_are_bounded(raw, field):
    with pytest.raises(ValidationFailed) as error:
        training_params_parse(raw)
    assert error.value.field == field


@pytest.mark.django_db
def test_revoking_the_only_license_that_allowed_a_model_destroys_it_and_refuses_renders_needing_it(
        personas, trained, settings, django_capture_on_commit_callbacks):
    allowing = make_license(personas, allows_likeness_model=True)
    other = make_license(personas)  # in force, but allows no likeness model
    model = _register(allowing, trained.weights)
    assert len(_media(settings)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        consent.license_revoke(license=allowing, reason="Withdrawn.", acting_user=personas.alice)
    model.refresh_from_db()
    assert model.status == LikenessModel.Status.DESTROYED and model.destroyed_reason == "license_revoked"
    assert not _media(settings), "the sealed weights are deleted"
    with pytest.raises(gate.ConsentRefused) as refusal:
        render.render_job_request(license_id=str(other.id), prompt="sks person", params=SMALL_RENDER,
                                  likeness_model_id=str(model.id), acting_user=personas.bob)
    assert refusal.value.decision.reason == gate.Reason.LIKENESS_MODEL_NOT_PERMITTED


@pytest.mark.django_db
def test_a_model_renders_only_under_the_license_it_was_trained_under_and_its_amendments(
        personas, trained, django_capture_on_commit_callbacks):
    first, second = (make_license(personas, allows_likeness_model=True) for _ in range(2))
    model = _register(first, trained.weights)
    with pytest.raises(gate.ConsentRefused) as refusal:
        render.render_job_request(license_id=str(second.id), prompt="sks person", params=SMALL_RENDER,
                                  likeness_model_id=str(model.id), acting_user=personas.bob)
    assert refusal.value.decision.reason == gate.Reason.LIKENESS_MODEL_UNAVAILABLE
    amendment = consent.license_amend(license=first, changes={"max_renders": 9}, acting_user=personas.erin)
    consent.license_offer(license=amendment, acting_user=personas.erin)
    consent.license_sign(license=amendment, context=sign_context(amendment), acting_user=personas.alice)
    consent.license_countersign(license=amendment, context=sign_context(amendment), acting_user=personas.dana)
    job = render.render_job_request(license_id=str(amendment.id), prompt="sks person", params=SMALL_RENDER,
                                    likeness_model_id=str(model.id), acting_user=personas.bob)
    assert str(job.likeness_model_id) == str(model.id)
    with django_capture_on_commit_callbacks(execute=True):
        consent.license_revoke(license=amendment, reason="Withdrawn.", acting_user=personas.alice)
    model.refresh_from_db()
    assert model.status == LikenessModel.Status.DESTROYED, "another license allowing a model does not keep it"


@pytest.mark.django_db
def test_a_render_with_the_likeness_model_publishes_and_one_of_another_studio_cannot_use_it(personas, trained, tiny_model):
    license = make_license(personas, allows_likeness_model=True)
    model = _register(license, trained.weights)
    job = render.render_job_request(license_id=str(license.id), prompt="sks person waving", params=SMALL_RENDER,
                                    likeness_model_id=str(model.id), acting_user=personas.bob)
    job = render.render_job_execute(job_id=str(job.id), worker="w1")
    assert job.status == "succeeded", job.outcome_message


@pytest.mark.django_db
def test_models_of_lapsed_licenses_are_swept(personas, trained, django_capture_on_commit_callbacks):
    license = make_license(personas, allows_likeness_model=True)
    model = _register(license, trained.weights)
    yesterday = timezone.localdate() - timedelta(days=1)
    LikenessLicense.objects.filter(pk=license.pk).update(starts_on=yesterday - timedelta(days=10), ends_on=yesterday)
    with django_capture_on_commit_callbacks(execute=True):
        assert likeness_models_sweep(actor="system:test") == [str(model.id)]
    model.refresh_from_db()
    assert model.destroyed_reason == "license_lapsed"
