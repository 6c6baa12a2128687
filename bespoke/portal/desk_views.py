"""The verification desk: the platform operator's verifiers decide identity verifications
and representations from sealed evidence, two of them for each approval.

Every page here is for verifiers only: anyone else (the talent, a representative, a
studio's legal staff or producers) gets a 404. Evidence opens inline and each viewing is
audited by the desk service. A decision needs a fresh second factor; the first approval
records the facts the evidence establishes, a second, different verifier confirms them;
either may reject with a note. The pages consult `consent.policies` to say who may decide
and why not; the desk services enforce it, and their refusals are shown beside the field
they name.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from core.stepup import step_up_required
from core.errors import ApplicationError
from bespoke.portal.desk_forms import RepresentationDecisionForm, VerificationDecisionForm
from bespoke.portal.standing import CAPACITY_WORDS
from consent import desk, policies, selectors as consent_selectors
from consent.downloads import identity_evidence_download, representation_evidence_download
from consent.facts import talent_facts
from consent.models import DeskReviewed, IdentityVerification, Representation


def _verifier_or_404(request: HttpRequest) -> None:
    if not policies.is_verifier(request.user):
        raise Http404("The verification desk is for the platform's verifiers.")


def _put_error(form: Form, error: ApplicationError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _decision_context(request: HttpRequest, subject: DeskReviewed, *, representative_id: object = None) -> dict[str, Any]:
    """What the reviewing verifier may do, as the policy says, in plain words."""
    refusal = policies.refuse_desk_decision(user=request.user, talent=subject.talent,
                                            requested_by_id=subject.requested_by_id,
                                            representative_id=representative_id)
    approve_refusal = None
    if subject.awaiting_second_approval:
        approve_refusal = policies.refuse_second_approval(user=request.user,
                                                          first_approved_by_id=subject.first_approved_by_id)
    return {"pending": subject.status == subject.Status.PENDING, "refusal": refusal,
            "approve_refusal": approve_refusal, "first": subject.first_approved_by_id is None}


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """Everything waiting for the desk, oldest first, and which approval each awaits."""
    _verifier_or_404(request)
    waiting = consent_selectors.desk_queue(user=request.user)
    return render(request, "portal/desk/queue.html", {
        "verifications": waiting.verifications, "representations": waiting.representations})


# --- identity verifications -----------------------------------------------------------------

def _verification(request: HttpRequest, verification_id: str) -> IdentityVerification:
    _verifier_or_404(request)
    return consent_selectors.verification_get_for_user(user=request.user, verification_id=verification_id)


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required(scope=_verification, keep_form=False)  # identity facts never wait in a session
def verification_review(request: HttpRequest, verification_id: str) -> HttpResponse:
    verification = _verification(request, verification_id)
    first = verification.first_approved_by_id is None
    form = VerificationDecisionForm(request.POST or None, first=first)
    if request.method == "POST" and form.is_valid():
        try:
            desk.identity_verification_decide(verification=verification, approve=form.approve,
                                              note=form.cleaned_data["note"], acting_user=request.user,
                                              **form.recorded())
        except ApplicationError as error:
            _put_error(form, error)
        else:
            messages.success(request, _outcome(verification))
            return redirect("portal-desk")
        verification.refresh_from_db()
    return render(request, "portal/desk/verification.html", {
        "verification": verification, "form": form, **_decision_context(request, verification),
        "evidence": verification.evidence.filter(deleted_at__isnull=True).order_by("created_at"),
    }, status=400 if form.errors else 200)


@login_required
@require_GET
def verification_evidence(request: HttpRequest, verification_id: str, evidence_id: str) -> HttpResponse:
    verification = _verification(request, verification_id)
    evidence = consent_selectors.evidence_get(verification=verification, evidence_id=evidence_id)
    try:
        return identity_evidence_download(evidence=evidence, acting_user=request.user, inline=True)
    except ApplicationError:
        raise Http404("No such evidence.") from None


# --- representations ------------------------------------------------------------------------

def _representation(request: HttpRequest, representation_id: str) -> Representation:
    _verifier_or_404(request)
    return consent_selectors.representation_get_for_user(user=request.user, representation_id=representation_id)


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required(scope=_representation, keep_form=False)
def representation_review(request: HttpRequest, representation_id: str) -> HttpResponse:
    representation = _representation(request, representation_id)
    first = representation.first_approved_by_id is None
    form = RepresentationDecisionForm(request.POST or None, first=first, kind=representation.kind)
    if request.method == "POST" and form.is_valid():
        try:
            desk.representation_decide(representation=representation, approve=form.approve,
                                       note=form.cleaned_data["note"], acting_user=request.user, **form.recorded())
        except ApplicationError as error:
            _put_error(form, error)
        else:
            messages.success(request, _outcome(representation))
            return redirect("portal-desk")
        representation.refresh_from_db()
    facts = talent_facts(talent_id=representation.talent_id)
    return render(request, "portal/desk/representation.html", {
        "representation": representation, "form": form, "facts": facts,
        "capacity": CAPACITY_WORDS.get(facts.capacity_on(timezone.localdate()) or "", "not verified"),
        **_decision_context(request, representation, representative_id=representation.representative_id),
        "evidence": representation.evidence.filter(deleted_at__isnull=True).order_by("created_at"),
    }, status=400 if form.errors else 200)


@login_required
@require_GET
def representation_evidence(request: HttpRequest, representation_id: str, evidence_id: str) -> HttpResponse:
    representation = _representation(request, representation_id)
    evidence = consent_selectors.representation_evidence_get(representation=representation, evidence_id=evidence_id)
    try:
        return representation_evidence_download(evidence=evidence, acting_user=request.user, inline=True)
    except ApplicationError:
        raise Http404("No such evidence.") from None


def _outcome(subject: DeskReviewed) -> str:
    if subject.status == subject.Status.REJECTED:
        return "Rejected. The person who asked sees your note."
    if subject.status == subject.Status.APPROVED:
        return "Approved: a second verifier confirmed the first one's record."
    return "First approval recorded. A second, different verifier confirms it."
