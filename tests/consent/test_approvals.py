"""Per-use approval: the request, the talent's approval and the talent's decline are each
recorded in the audit log with who decided and on which license and job; a decline
cancels the job, and a refused decision records and changes nothing."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from consent.models import UseApproval
from generation.models import RenderJob
from generation.services import render
from tests.conftest import SMALL_RENDER, make_license

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(personas):  # type: ignore[no-untyped-def]
    """A render under a license that asks the talent to approve each use, waiting for her."""
    license = make_license(personas, requires_use_approval=True)
    job = render.render_job_request(license_id=str(license.id), prompt="sks person dancing", params=SMALL_RENDER,
                                    acting_user=personas.bob)
    return license, job


def _events_after(seq: int) -> list[tuple[str, str, str, dict]]:
    return [(event.action, event.actor, event.subject, json.loads(event.body)["data"])
            for event in AuditEvent.objects.filter(seq__gt=seq).order_by("seq")]


def _head() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def test_the_request_for_approval_is_recorded_with_the_producer_as_actor(personas, waiting):
    license, job = waiting
    approval = UseApproval.objects.get(job_ref=str(job.id))
    requested = AuditEvent.objects.get(action="use.approval_requested")
    assert (requested.actor, requested.subject) == (f"user:{personas.bob.pk}", f"license:{license.id}")
    assert json.loads(requested.body)["data"] == {"approval": str(approval.id), "job": str(job.id)}
    assert job.status == RenderJob.Status.AWAITING_APPROVAL


def test_an_approval_is_recorded_with_the_talent_as_actor_and_queues_the_render(
        personas, waiting, django_capture_on_commit_callbacks):
    license, job = waiting
    approval = UseApproval.objects.get(job_ref=str(job.id))
    before = _head()
    with django_capture_on_commit_callbacks() as published:
        render.render_job_decide(job=job, approve=True, reason="", acting_user=personas.alice)

    assert _events_after(before) == [("use.approved", f"user:{personas.alice.pk}", f"license:{license.id}",
                                      {"approval": str(approval.id), "job": str(job.id)})]
    job.refresh_from_db()
    approval.refresh_from_db()
    assert job.status == RenderJob.Status.QUEUED and len(published) == 1
    assert (approval.status, approval.decided_by) == (UseApproval.Status.APPROVED, personas.alice)


def test_a_decline_is_recorded_with_the_talent_as_actor_and_cancels_the_render(
        personas, waiting, django_capture_on_commit_callbacks):
    license, job = waiting
    approval = UseApproval.objects.get(job_ref=str(job.id))
    before = _head()
    with django_capture_on_commit_callbacks() as published:
        render.render_job_decide(job=job, approve=False, reason="Not this scene.", acting_user=personas.alice)

    alice = f"user:{personas.alice.pk}"
    assert _events_after(before) == [
        ("use.declined", alice, f"license:{license.id}", {"approval": str(approval.id), "job": str(job.id)}),
        ("render.cancelled", alice, job.audit_subject, {"reason": "use_declined", "attempt": 0}),
    ]
    job.refresh_from_db()
    approval.refresh_from_db()
    assert (job.status, job.outcome_code) == (RenderJob.Status.CANCELLED, "use_declined") and not published
    assert (approval.status, approval.reason) == (UseApproval.Status.DECLINED, "Not this scene.")
    assert render.render_job_claim(job_id=str(job.id), worker="w") is None


@pytest.mark.parametrize("who, approve, reason, error", [
    ("bob", True, "", NotAllowed),  # the producer who asked
    ("dana", False, "Budget.", NotAllowed),  # the licensee's legal staff
    ("frank", True, "", NotAllowed),  # a verifier of the platform
    ("alice", False, "  ", ValidationFailed),  # a decline needs a reason
])
def test_a_refused_decision_records_nothing_and_leaves_the_use_waiting(personas, waiting, who, approve, reason, error):
    _, job = waiting
    before = _head()
    with pytest.raises(error):
        render.render_job_decide(job=job, approve=approve, reason=reason, acting_user=getattr(personas, who))
    assert _events_after(before) == []
    job.refresh_from_db()
    assert job.status == RenderJob.Status.AWAITING_APPROVAL
    assert UseApproval.objects.get(job_ref=str(job.id)).status == UseApproval.Status.PENDING


def test_a_use_is_decided_once(personas, waiting):
    _, job = waiting
    render.render_job_decide(job=job, approve=True, reason="", acting_user=personas.alice)
    before = _head()
    with pytest.raises(InvalidTransition):
        render.render_job_decide(job=job, approve=False, reason="Changed my mind.", acting_user=personas.alice)
    assert _events_after(before) == []
    assert UseApproval.objects.get(job_ref=str(job.id)).status == UseApproval.Status.APPROVED
