"""Representations in the portal: a talent names their guardian or agent and sees who
represents them; a guardian or an estate's executor asks to represent a talent, proves
their identity and authority with sealed evidence, and follows the desk's decision.

The verifiers decide on the desk's pages (`desk_views`). Here each page is the talent's
or the representative's own (anything else is a 404), each action one desk service, and
each refusal is shown beside the field it names.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from core.stepup import step_up_required
from core.errors import ApplicationError
from bespoke.portal.desk_forms import (
    AskToRepresentForm,
    EndRepresentationForm,
    NameRepresentativeForm,
    RepresentationEvidenceForm,
)
from bespoke.talent_data import own_talent
from consent import desk, policies, selectors as consent_selectors
from consent.downloads import representation_evidence_download
from consent.models import Representation, RepresentationEvidence

OPEN = (Representation.Status.PENDING, Representation.Status.APPROVED)


def _put_error(form: Form, error: ApplicationError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _ask(request: HttpRequest, form: Form, *, talent_username: str, representative_username: str,
         kind: str) -> Representation | None:
    """Name both parties by username and ask the desk; None (with the error on the form) when refused."""
    try:
        parties = consent_selectors.representation_parties(user=request.user, talent_username=talent_username,
                                                           representative_username=representative_username)
        return desk.representation_request(talent=parties.talent, representative=parties.representative, kind=kind,
                                           acting_user=request.user)
    except ApplicationError as error:
        _put_error(form, error)
        return None


# --- the talent's side ----------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def my_representatives(request: HttpRequest) -> HttpResponse:
    """The talent's representations, whatever their state, and a form to name a guardian or agent."""
    talent = own_talent(user=request.user)
    if talent is None:
        raise Http404("This page is for talent.")
    form = NameRepresentativeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        representation = _ask(request, form, talent_username="", kind=form.cleaned_data["kind"],
                              representative_username=form.cleaned_data["representative_username"])
        if representation is not None:
            messages.success(request, f"Asked. {representation.representative.username} now uploads their evidence "
                                      "and the verification desk decides.")
            return redirect("portal-my-representatives")
    return render(request, "portal/my_representatives.html", {
        "form": form, "open": OPEN,
        "representations": consent_selectors.representations_for_user(user=request.user).filter(talent=talent),
    }, status=400 if form.errors else 200)


# --- the representative's side ----------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def representation_list(request: HttpRequest) -> HttpResponse:
    """The representations the user holds or asked for, and a form to ask to represent a talent."""
    form = AskToRepresentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        representation = _ask(request, form, talent_username=form.cleaned_data["talent_username"],
                              representative_username="", kind=form.cleaned_data["kind"])
        if representation is not None:
            messages.success(request, "Asked. Upload your evidence now: the verification desk decides once it has "
                                      "all of it.")
            return redirect("portal-representation", representation_id=representation.id)
    held = (consent_selectors.representations_for_user(user=request.user)
            .filter(Q(representative=request.user) | Q(requested_by=request.user))
            .exclude(talent__user=request.user))
    return render(request, "portal/representations.html", {"form": form, "representations": held, "open": OPEN},
                  status=400 if form.errors else 200)


def _own_representation(request: HttpRequest, representation_id: str, *, representative_only: bool = False
                        ) -> Representation:
    """The representative's (or, where allowed, the talent's) representation; anyone else gets 404."""
    representation = consent_selectors.representation_get_for_user(user=request.user,
                                                                    representation_id=representation_id)
    parties = {representation.representative_id} if representative_only else \
        {representation.representative_id, representation.talent.user_id}
    if request.user.pk not in parties:
        raise Http404("No such representation.")
    return representation


@login_required
@require_http_methods(["GET", "POST"])
def representation_detail(request: HttpRequest, representation_id: str) -> HttpResponse:
    """Its state; for the representative, the challenge code, their evidence and the upload form."""
    representation = _own_representation(request, representation_id)
    is_representative = request.user.pk == representation.representative_id
    form = RepresentationEvidenceForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not is_representative:
            raise Http404("No such representation.")
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                desk.representation_evidence_add(representation=representation, kind=form.cleaned_data["kind"],
                                                 data=upload.read(), filename=upload.name, acting_user=request.user)
            except ApplicationError as error:
                _put_error(form, error)
            else:
                messages.success(request, "Uploaded and stored encrypted.")
                return redirect("portal-representation", representation_id=representation.id)
    evidence = representation.evidence.filter(deleted_at__isnull=True).order_by("created_at")
    return render(request, "portal/representation.html", {
        "representation": representation, "form": form, "is_representative": is_representative,
        "evidence": evidence, "missing": _missing(representation, evidence),
        "can_end": representation.status in OPEN
        and policies.refuse_representation_revoke(user=request.user, representation=representation) is None,
    }, status=400 if form.errors else 200)


def _missing(representation: Representation, evidence: QuerySet[RepresentationEvidence]) -> list[str]:
    """The kinds of evidence the desk still waits for (only while it is pending)."""
    if representation.status != Representation.Status.PENDING:
        return []
    held = {item.kind for item in evidence}
    return [label for kind, label in RepresentationEvidence.Kind.choices if kind not in held]


@login_required
@require_GET
def representation_evidence(request: HttpRequest, representation_id: str, evidence_id: str) -> HttpResponse:
    """The representative reads back what they uploaded (each viewing audited)."""
    representation = _own_representation(request, representation_id, representative_only=True)
    evidence = consent_selectors.representation_evidence_get(representation=representation, evidence_id=evidence_id)
    try:
        return representation_evidence_download(evidence=evidence, acting_user=request.user, inline=True)
    except ApplicationError:
        raise Http404("No such evidence.") from None


def _representation_to_end(request: HttpRequest, representation_id: str) -> Representation:
    """Who may end a representation is the policy's (the talent, the representative or a
    verifier of the desk, as on the API); anyone else gets 404."""
    representation = consent_selectors.representation_get_for_user(user=request.user,
                                                                    representation_id=representation_id)
    if policies.refuse_representation_revoke(user=request.user, representation=representation) is not None:
        raise Http404("No such representation.")
    return representation


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required(scope=_representation_to_end)
def representation_end(request: HttpRequest, representation_id: str) -> HttpResponse:
    """What ending it does (GET); then, with a reason and a fresh second factor, end it (POST)."""
    representation = _representation_to_end(request, representation_id)
    form = EndRepresentationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            desk.representation_revoke(representation=representation, reason=form.cleaned_data["reason"],
                                       acting_user=request.user)
        except ApplicationError as error:
            _put_error(form, error)
        else:
            messages.success(request, "Ended. This representation signs nothing from now on.")
            if request.user.pk == representation.talent.user_id:
                return redirect("portal-my-representatives")
            if request.user.pk == representation.representative_id:
                return redirect("portal-representations")
            return redirect("portal-desk")
    return render(request, "portal/representation_end.html", {"representation": representation, "form": form},
                  status=400 if form.errors else 200)
