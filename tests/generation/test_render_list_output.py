"""A render list's rows, with and without a published output: every field is the one DRF's
own field-by-field reading gives, and the list shows each persona the renders in its scope."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework import serializers

from generation import selectors
from generation.api import OutputSummary, RenderOutputSerializer
from generation.models import RenderOutput
from tests.api.conftest import api, mfa_personas  # noqa: F401 (fixtures)
from tests.conftest import make_license
from tests.publishing import publish, running_job, signed_clip

pytestmark = pytest.mark.django_db

RENDER_FIELDS = {"id", "license_id", "likeness_model_id", "prompt", "negative_prompt", "params", "status", "attempt",
                 "progress_step", "progress_total", "outcome_code", "outcome_message", "created_at", "started_at",
                 "finished_at", "output"}
OUTPUT_FIELDS = {"id", "sha256", "size_bytes", "manifest_label", "disclosure", "watermark_id", "compliance",
                 "created_at"}


def _drf(serializer: serializers.Serializer, instance: object) -> dict:
    return serializers.Serializer.to_representation(serializer, instance)


def test_a_render_list_reads_each_field_as_drf_reads_it(mfa_personas, api, settings):  # noqa: F811
    license = make_license(mfa_personas)
    published = running_job(license_id=str(license.id), producer=mfa_personas.bob)
    publish(published, signed_clip(Path(settings.MEDIA_ROOT).parent / "clip", license_id=str(license.id)))
    queued = running_job(license_id=str(license.id), producer=mfa_personas.bob, worker="w2")
    output = RenderOutput.objects.get(job=published)

    listed = {item["id"]: item for item in api("bob").get(reverse("render-list")).json()["results"]}
    assert set(listed) == {str(published.id), str(queued.id)}
    assert all(set(item) == RENDER_FIELDS for item in listed.values())
    assert listed[str(queued.id)]["output"] is None and listed[str(queued.id)]["license_id"] == str(license.id)
    assert set(listed[str(published.id)]["output"]) == OUTPUT_FIELDS
    assert listed[str(published.id)]["output"]["sha256"] == output.sha256
    assert api("alice").get(reverse("render-list")).json()["count"] == 2
    assert api("charlie").get(reverse("render-list")).json()["results"] == []

    serializer = RenderOutputSerializer(context={})
    for job in selectors.render_jobs_for_user(user=mfa_personas.bob):
        expected = _drf(RenderOutputSerializer(context={}), job)
        if expected["output"] is not None:
            expected["output"] = _drf(OutputSummary(), job.output)
        assert serializer.to_representation(job) == expected
