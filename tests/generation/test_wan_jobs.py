"""A deployment on the wan model family: Bob's renders and likeness trainings go through the same gate,
label, watermark, signature and sealing as on the default family, on the tiny Wan model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage

from audit.selectors import audit_chain_verify
from bespoke.synthetic_faces import synthetic_face_photos
from consent import services as consent
from consent.likeness import likeness_model_weights
from consent.models import LicenseUse, LikenessModel
from core.errors import ValidationFailed
from generation.models import RenderJob, RenderOutput, TrainingJob
from generation.pipeline.families import family_for
from generation.pipeline.loading import pipeline_cache
from generation.pipeline.rendering import RenderSettings
from generation.services import render, training
from generation.tracing import media_verify
from tests.conftest import SMALL_RENDER, make_license

ROOT = Path(__file__).resolve().parent.parent.parent
SAFETENSORS_HEADER_MARK = b'"data_offsets"'


def _settings_with(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BESPOKE_", "DJANGO_"))}
    clean.update(DJANGO_SETTINGS_MODULE="bespoke.settings", **env)
    return subprocess.run([sys.executable, "-c", "from django.conf import settings; print(settings.BESPOKE_MODEL_BASE)"],
                          cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60, check=False)


def test_an_unknown_model_family_stops_bespoke_at_startup_and_wan_defaults_to_its_tiny_model(tmp_path):
    unknown = _settings_with(BESPOKE_DATA_DIR=str(tmp_path), BESPOKE_MODEL_FAMILY="sora")
    assert unknown.returncode != 0
    assert "BESPOKE_MODEL_FAMILY='sora' must be one of animatediff-sd15, wan" in unknown.stderr
    wan = _settings_with(BESPOKE_DATA_DIR=str(tmp_path), BESPOKE_MODEL_FAMILY="wan")
    assert wan.stdout.strip() == str(tmp_path / "models" / "tiny-wan" / "t2v"), wan.stderr
    misplaced = _settings_with(BESPOKE_DATA_DIR=str(tmp_path), BESPOKE_MODEL_IMAGE_TO_VIDEO=str(tmp_path / "i2v"))
    assert misplaced.returncode != 0 and "needs BESPOKE_MODEL_FAMILY=wan" in misplaced.stderr


@pytest.mark.django_db
def test_sizes_the_wan_model_cannot_render_are_refused_at_request_time(personas, active_license, settings):
    settings.BESPOKE_MODEL_FAMILY = "wan"
    with pytest.raises(ValidationFailed, match="width must be a multiple of 16 for this deployment's wan model"):
        render.render_job_request(license_id=str(active_license.id), prompt="sks person waving",
                                  params={**SMALL_RENDER, "width": 136}, acting_user=personas.bob)
    with pytest.raises(ValidationFailed, match="train_text_encoder must be false"):
        training.training_job_request(license_id=str(active_license.id), params={"train_text_encoder": True},
                                      acting_user=personas.bob)
    assert not RenderJob.objects.exists() and not TrainingJob.objects.exists()


@pytest.mark.django_db
def test_bobs_render_on_wan_is_gated_labelled_signed_and_published_with_the_wan_models_hash(
        personas, active_license, tiny_wan):
    job = render.render_job_request(license_id=str(active_license.id), prompt="sks person walking on a beach",
                                    params=SMALL_RENDER, acting_user=personas.bob)
    job = render.render_job_execute(job_id=str(job.id), worker="w1")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    assert (job.attempt, job.progress_step, job.progress_total) == (1, 3, 3)
    output = RenderOutput.objects.get(job=job)
    wan = family_for("wan")
    assert output.model_sha256 == wan.fingerprint(wan.tiny_spec(tiny_wan))
    verification = media_verify(path=Path(default_storage.path(output.file.name)))
    assert verification.manifest.state == "trusted"
    assert verification.manifest.consent.license_id == str(active_license.id)
    assert verification.manifest.disclosure["text"] == "AI-generated"
    assert list(LicenseUse.objects.values_list("output_ref", flat=True)) == [str(output.id)]
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_a_likeness_trained_on_wan_is_stored_sealed_and_changes_alices_renders(personas, tiny_wan, settings):
    license = make_license(personas, excluded=(), allows_likeness_model=True)
    for data in synthetic_face_photos(4):
        consent.reference_photo_add(talent=personas.talent, data=data, filename="portrait.jpg",
                                    acting_user=personas.alice)
    job = training.training_job_request(license_id=str(license.id), acting_user=personas.bob,
                                        params={"steps": 12, "num_class_images": 2, "learning_rate": 1e-2})
    job = training.training_job_execute(job_id=str(job.id), worker="w1")
    assert job.status == TrainingJob.Status.SUCCEEDED, job.outcome_message
    assert len(job.loss_history) == 12 and job.progress_step == 12
    model = LikenessModel.objects.get(pk=job.likeness_model_id)
    assert SAFETENSORS_HEADER_MARK not in (Path(settings.MEDIA_ROOT) / model.stored_name).read_bytes()

    weights = likeness_model_weights(model_id=str(model.id)).weights
    wan = family_for("wan")
    loaded = pipeline_cache.get(render.model_spec())
    clip = RenderSettings(prompt="a photo of sks person", negative_prompt="", num_frames=1, width=64, height=64,
                          steps=2, guidance_scale=1.0, seed=3)
    base = wan.render_text_to_video(loaded, clip)
    with wan.likeness_adapters(loaded, [(weights, 1.0)]):
        assert not np.array_equal(wan.render_text_to_video(loaded, clip), base)
    assert np.array_equal(wan.render_text_to_video(loaded, clip), base)
