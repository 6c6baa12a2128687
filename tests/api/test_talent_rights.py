"""Per-use approval, and the talent's GDPR rights through the API: export and erasure."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.db import transaction
from django.urls import reverse

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from bespoke.synthetic_faces import synthetic_face_photos
from consent import gate, keys, services as consent
from consent.models import ReferencePhoto, UseApproval
from generation.models import RenderJob
from generation.services import render
from tests.conftest import SMALL_RENDER, make_license

pytestmark = pytest.mark.django_db


def _gate_at_every_stage(job: RenderJob) -> list[gate.GateDecision]:
    """Ask the consent gate about this job as a worker would: at the claim, between steps,
    and with the license row locked in the publishing transaction."""
    use = gate.UseRequest(license_id=str(job.license_id), medium=job.medium, prompt=job.prompt, job_ref=str(job.id))
    asked = dict(actor="system:worker", subject=job.audit_subject)
    decisions = [gate.check(use=use, stage=stage, **asked) for stage in (gate.Stage.CLAIM, gate.Stage.STEP)]
    with transaction.atomic():
        decisions.append(gate.check_locked(use=use, stage=gate.Stage.PUBLISH, **asked))
    return decisions


def test_a_use_waits_for_the_talents_approval_and_the_gate_refuses_it_until_then(mfa_personas, api,
                                                                                django_capture_on_commit_callbacks):
    license = make_license(mfa_personas, requires_use_approval=True)
    created = api("bob").post(reverse("render-list"), {"license": str(license.id), "prompt": "sks person smiling",
                                                      "params": SMALL_RENDER}, format="json").json()
    job = RenderJob.objects.get(pk=created["id"])
    assert job.status == "awaiting_approval"
    approval = UseApproval.objects.get(job_ref=str(job.id))
    assert (approval.prompt, approval.params["steps"]) == ("sks person smiling", SMALL_RENDER["steps"])

    waiting = _gate_at_every_stage(job)
    assert [(d.allowed, d.reason) for d in waiting] == [(False, gate.Reason.USE_NOT_APPROVED)] * 3
    assert AuditEvent.objects.filter(action="consent.gate_refused", body__contains='"reason":"use_not_approved"',
                                     subject=job.audit_subject).count() == 3

    with django_capture_on_commit_callbacks() as published:
        response = api("alice").post(reverse("render-approve", kwargs={"pk": job.id}), {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "queued" and len(published) == 1
    assert [(d.allowed, d.reason) for d in _gate_at_every_stage(job)] == [(True, None)] * 3
    assert render.render_job_claim(job_id=str(job.id), worker="w") is not None


def test_a_waiting_use_that_reaches_a_worker_is_cancelled_by_the_gate(mfa_personas):
    """Should a job that waits for the talent ever be queued (a bug, an operator's hand), the
    worker's claim asks the gate, which refuses the unapproved use and cancels the job."""
    license = make_license(mfa_personas, requires_use_approval=True)
    job = render.render_job_request(license_id=str(license.id), prompt="sks person smiling", params=SMALL_RENDER,
                                    acting_user=mfa_personas.bob)
    RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.QUEUED)

    assert render.render_job_claim(job_id=str(job.id), worker="w") is None
    job.refresh_from_db()
    assert (job.status, job.outcome_code) == (RenderJob.Status.CANCELLED, "use_not_approved")
    assert UseApproval.objects.get(job_ref=str(job.id)).status == UseApproval.Status.PENDING


def test_a_declined_use_is_cancelled_with_the_talents_reason(mfa_personas, api):
    license = make_license(mfa_personas, requires_use_approval=True)
    job = render.render_job_request(license_id=str(license.id), prompt="sks person dancing", params=SMALL_RENDER,
                                    acting_user=mfa_personas.bob)
    refused = api("alice").post(reverse("render-decline", kwargs={"pk": job.id}), {"reason": ""}, format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "reason"
    response = api("alice").post(reverse("render-decline", kwargs={"pk": job.id}), {"reason": "Not this scene."},
                                 format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["outcome_code"]) == ("cancelled", "use_declined")
    assert UseApproval.objects.get(job_ref=str(job.id)).reason == "Not this scene."


def test_the_export_holds_every_record_and_file_about_the_talent(mfa_personas, api):
    license = make_license(mfa_personas)
    job = render.render_job_request(license_id=str(license.id), prompt="sks person at the market", params=SMALL_RENDER,
                                    acting_user=mfa_personas.bob)
    for data in synthetic_face_photos(2):
        consent.reference_photo_add(talent=mfa_personas.talent, data=data, filename="p.jpg", acting_user=mfa_personas.alice)
    response = api("alice").post(reverse("me-export"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    data = json.loads(archive.read("data.json"))
    assert data["talent"]["display_name"] == "Alice Avery"
    assert [row["id"] for row in data["licenses"]] == [str(license.id)]
    assert {row["role"] for row in data["signatures"]} == {"talent", "licensee"}
    assert len(data["identity_verifications"]) == 1 and data["audit_events"]
    assert [(r["id"], r["prompt"]) for r in data["renders"]] == [(str(job.id), "sks person at the market")]
    photos = [name for name in archive.namelist() if name.startswith("reference_photos/")]
    assert len(photos) == 2 and archive.read(photos[0]).startswith(b"\x89PNG")


def test_erasure_revokes_shreds_and_keeps_the_chain_verifiable(mfa_personas, api):
    license = make_license(mfa_personas)
    consent.reference_photo_add(talent=mfa_personas.talent, data=synthetic_face_photos(1)[0], filename="p.jpg",
                                acting_user=mfa_personas.alice)
    sealed = keys.seal(talent_id=mfa_personas.talent.id, object_ref="x", plaintext=b"likeness")
    unconfirmed = api("alice").post(reverse("me-erase"), {"confirm": False}, format="json")
    assert unconfirmed.status_code == 400
    response = api("alice").post(reverse("me-erase"), {"confirm": True}, format="json")
    assert response.status_code == 200 and response.json()["revoked_licenses"] == [str(license.id)]
    with pytest.raises(keys.KeyDestroyed):
        keys.unseal(talent_id=mfa_personas.talent.id, object_ref="x", sealed=sealed)
    assert not ReferencePhoto.objects.filter(deleted_at__isnull=True).exists()
    assert audit_chain_verify().ok
