"""Portal views: thin, scoped through selectors (404 outside scope), one service per action.

A refusal is shown in plain words on the page it came from; a high-risk action that needs
a fresh confirmation sends the user to allauth's reauthentication page and back.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.stepup import step_up_required
from core.errors import ApplicationError
from consent import desk, gate, policies, selectors as consent_selectors, services as consent
from consent.api import REVOCATION_EFFECTS, signature_context
from consent.downloads import identity_evidence_download
from consent.facts import talent_facts
from consent.lifecycle import effective_state
from consent.models import IdentityVerification, LikenessLicense, Membership, Talent
from consent.terms import DISCLOSURE_VERSION, ELECTRONIC_RECORDS_DISCLOSURE
from generation import selectors as generation_selectors
from generation.downloads import render_output_download
from generation.models import RenderJob
from generation.services import keyframes, render as renders
from stories import selectors as story_selectors
from bespoke.portal.legal_views import suspension_context
from bespoke.portal.next_steps import next_steps_for_user, uses_to_decide
from bespoke.portal.standing import license_signer
from bespoke.portal.reports import compliance_csv, compliance_pdf, compliance_rows
from bespoke.portal.forms import (
    EvidenceForm,
    KeyframeDecisionForm,
    RenderRequestForm,
    ReportForm,
    RevokeForm,
    SignForm,
    VerificationStartForm,
)


def _license_in_scope(request: HttpRequest, license_id: str, **_: object) -> LikenessLicense:
    return consent_selectors.license_get_for_user(user=request.user, license_id=license_id)


def _job_in_scope(request: HttpRequest, job_id: str) -> RenderJob:
    return generation_selectors.job_get_for_user(generation_selectors.render_jobs_for_user(user=request.user), job_id)


def _roles(user: Any) -> set[str]:
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    if hasattr(user, "talent"):
        roles.add("talent")
        if user.talent.kind == Talent.Kind.VIEWER:
            roles.add("viewer")
    return roles


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "portal/welcome.html")
    user = request.user
    today = timezone.localdate()
    licenses = list(consent_selectors.licenses_for_user(user=user)[:50])
    for license in licenses:
        license.state = effective_state(license, today)
    jobs = generation_selectors.render_jobs_for_user(user=user)
    roles = _roles(user)
    awaiting_approval = uses_to_decide(user=user, jobs=jobs)
    return render(request, "portal/home.html", {
        "roles": roles,
        "next_steps": next_steps_for_user(user=user, uses_waiting=len(awaiting_approval)),
        "stories_to_star_in": story_selectors.stories_open_to_viewers()[:50] if "viewer" in roles else [],
        "licenses": licenses,
        "awaiting_approval": awaiting_approval,
        "jobs": jobs[:20],
    })


@login_required
@require_GET
def license_detail(request: HttpRequest, license_id: str) -> HttpResponse:
    license = consent_selectors.license_get_for_user(user=request.user, license_id=license_id)
    return _license_page(request, license)


def _license_page(request: HttpRequest, license: LikenessLicense, *, render_form: RenderRequestForm | None = None,
                  status: int = 200) -> HttpResponse:
    """The license, who signs for the talent and why, and the actions the policy allows this user."""
    user = request.user
    state = effective_state(license, timezone.localdate())
    side = policies.talent_side(license)
    is_producer = gate.requester_is_licensee(user_id=user.pk, license_id=str(license.id))
    return render(request, "portal/license.html", {
        "license": license, "state": state, "signatures": license.signatures.select_related("signer"),
        "signer": license_signer(license, side),
        "can_sign": license.status == LikenessLicense.Status.OFFERED
        and policies.refuse_talent_signature(user=user, license=license, side=side) is None,
        "can_countersign": license.status == LikenessLicense.Status.SIGNED
        and policies.refuse_countersign(user=user, license=license) is None,
        "can_revoke": policies.refuse_license_revoke(user=user, license=license) is None,
        "can_request": is_producer and state == "active",
        "refusal": gate.license_refusal(license)[1] if is_producer and state != "active" else "",
        "sign_form": SignForm(initial={"text_sha256": license.text_sha256}),
        "render_form": render_form or RenderRequestForm(),
        "disclosure": ELECTRONIC_RECORDS_DISCLOSURE,
        **suspension_context(user=user, license=license, state=state),
    }, status=status)


@login_required
@require_POST
@step_up_required(scope=_license_in_scope)
def license_sign(request: HttpRequest, license_id: str, countersign: bool = False) -> HttpResponse:
    license = consent_selectors.license_get_for_user(user=request.user, license_id=license_id)
    form = SignForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("portal-license", license_id=license.id)
    method = request.step_up_method
    action = consent.license_countersign if countersign else consent.license_sign
    try:
        context = signature_context(request, {**form.cleaned_data, "disclosure_version": DISCLOSURE_VERSION}, method)
        action(license=license, context=context, acting_user=request.user)
        messages.success(request, "Countersigned." if countersign else "Signed. Legal countersigns next.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("portal-license", license_id=license.id)


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required(scope=_license_in_scope)
def license_revoke(request: HttpRequest, license_id: str) -> HttpResponse:
    """Consequences first (GET), then one action (POST)."""
    license = consent_selectors.license_get_for_user(user=request.user, license_id=license_id)
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            revocation = consent.license_revoke(license=license, reason=form.cleaned_data["reason"],
                                                acting_user=request.user)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Revoked. {len(revocation.published_outputs)} output(s) were delivered before "
                                      "the revocation; no further render will be made.")
            return redirect("portal-license", license_id=license.id)
    published = list(license.uses.values_list("output_ref", flat=True))
    refusal = policies.refuse_license_revoke(user=request.user, license=license)
    return render(request, "portal/revoke.html", {"license": license, "form": form, "effects": REVOCATION_EFFECTS,
                                                  "published": published, "refusal": refusal and refusal.message,
                                                  "stories": story_selectors.stories_casting_license(
                                                      license_id=license.id)},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def render_request(request: HttpRequest, license_id: str) -> HttpResponse:
    """A refused or invalid request re-shows the form with each error next to its field.

    The answer to a published keyframe of the license (animate it, or redo it) is posted here
    too: it is a render request under the license, started from that keyframe or in its place."""
    license = consent_selectors.license_get_for_user(user=request.user, license_id=license_id)
    if "keyframe_decision" in request.POST:
        return _keyframe_decide(request, license)
    form = RenderRequestForm(request.POST)
    if form.is_valid():
        params = {k: v for k, v in form.cleaned_data.items() if k in ("num_frames", "steps", "seed") and v is not None}
        if form.cleaned_data["keyframe"]:
            params = {k: v for k, v in params.items() if k != "num_frames"} | {"keyframe": True}
        try:
            renders.render_job_request(license_id=str(license.id), prompt=form.cleaned_data["prompt"], params=params,
                                       acting_user=request.user)
        except gate.ConsentRefused as refusal:
            form.add_error("prompt", f"Refused: {refusal.decision.message}")
        except ApplicationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Render requested. Its progress shows below.")
            return redirect("portal-renders")
    return _license_page(request, license, render_form=form, status=400)


def _keyframe_decide(request: HttpRequest, license: LikenessLicense) -> HttpResponse:
    """Animate the keyframe, or ask for another; the outcome (or the refusal) shows on the renders page."""
    form = KeyframeDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Animate or Redo for a keyframe.")
        return redirect("portal-renders")
    job = _job_in_scope(request, str(form.cleaned_data["keyframe_job"]))
    if str(job.license_id) != str(license.id):
        raise Http404("No such keyframe under this license.")
    animate = form.cleaned_data["keyframe_decision"] == "animate"
    try:
        if animate:
            keyframes.keyframe_animate(job=job, acting_user=request.user)
        else:
            keyframes.keyframe_redo(job=job, acting_user=request.user)
    except gate.ConsentRefused as refusal:
        messages.error(request, f"Refused: {refusal.decision.message}")
    except ApplicationError as error:
        if error.code == "not_found":
            raise Http404(error.message) from error
        messages.error(request, error.message)
    else:
        messages.success(request, "Animating the keyframe: the clip's progress shows below." if animate
                         else "Making another keyframe with a new seed: its progress shows below.")
    return redirect("portal-renders")


@login_required
@require_GET
def render_list(request: HttpRequest) -> HttpResponse:
    jobs = generation_selectors.render_jobs_for_user(user=request.user)[:50]
    return render(request, "portal/renders.html", {"jobs": jobs})


@login_required
@require_GET
def render_progress(request: HttpRequest, job_id: str) -> HttpResponse:
    job = generation_selectors.job_get_for_user(generation_selectors.render_jobs_for_user(user=request.user), job_id)
    return render(request, "portal/_progress.html", {"job": job})


@login_required
@require_POST
@step_up_required(scope=_job_in_scope)
def render_decide(request: HttpRequest, job_id: str) -> HttpResponse:
    job = generation_selectors.job_get_for_user(generation_selectors.render_jobs_for_user(user=request.user), job_id)
    approve = request.POST.get("decision") == "approve"
    try:
        renders.render_job_decide(job=job, approve=approve, reason=request.POST.get("reason", ""),
                                  acting_user=request.user)
        messages.success(request, "Approved: the render is queued." if approve else "Declined.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("home")


@login_required
@require_GET
def render_download(request: HttpRequest, job_id: str) -> HttpResponse:
    """The output as an attachment; `?inline=1` for the page's own player and preview link."""
    output = generation_selectors.published_output_get_for_user(user=request.user, job_id=job_id)
    return render_output_download(request, output=output, inline=request.GET.get("inline") == "1")


@login_required
@require_http_methods(["GET", "POST"])
def my_verification(request: HttpRequest) -> HttpResponse:
    """The talent starts an identity verification and uploads its evidence."""
    talent = Talent.objects.filter(user=request.user).first()
    if talent is None:
        raise Http404("Only talent verify their identity here.")
    pending = talent.verifications.filter(status=IdentityVerification.Status.PENDING).first()
    start_form = VerificationStartForm(request.POST if "method" in request.POST else None)
    evidence_form = EvidenceForm(request.POST if "kind" in request.POST else None, request.FILES or None)
    status = 200
    try:
        if start_form.is_bound and start_form.is_valid():
            desk.identity_verification_request(talent=talent, method=start_form.cleaned_data["method"],
                                               acting_user=request.user)
            return redirect("portal-my-verification")
        if pending and evidence_form.is_bound and evidence_form.is_valid():
            upload = evidence_form.cleaned_data["file"]
            desk.identity_evidence_add(verification=pending, kind=evidence_form.cleaned_data["kind"],
                                       data=upload.read(), filename=upload.name, acting_user=request.user)
            messages.success(request, "Uploaded and stored encrypted.")
            return redirect("portal-my-verification")
    except ApplicationError as error:
        form = evidence_form if evidence_form.is_bound else start_form
        form.add_error(error.field if error.field in form.fields else None, error.message)
    if start_form.errors or evidence_form.errors:
        status = 400
    latest = talent.verifications.order_by("-requested_at").first()
    return render(request, "portal/my_verification.html", {
        "pending": pending, "latest": latest, "facts": talent_facts(talent_id=talent.pk),
        "start_form": start_form, "evidence_form": evidence_form,
        "evidence": latest.evidence.filter(deleted_at__isnull=True).order_by("created_at") if latest else [],
    }, status=status)


@login_required
@require_GET
def my_verification_evidence(request: HttpRequest, evidence_id: str) -> HttpResponse:
    """The talent reads back evidence they uploaded (each viewing audited); nobody else here."""
    talent = Talent.objects.filter(user=request.user).first()
    if talent is None:
        raise Http404("No such evidence.")
    evidence = consent_selectors.identity_evidence_of_talent(talent=talent).filter(pk=evidence_id).first()
    if evidence is None:
        raise Http404("No such evidence.")
    try:
        return identity_evidence_download(evidence=evidence, acting_user=request.user, inline=True)
    except ApplicationError:
        raise Http404("No such evidence.") from None


@login_required
@require_GET
def compliance_report(request: HttpRequest) -> HttpResponse:
    """Legal staff: every published output of one of their organisations in a period, as a page,
    CSV or PDF. The organisation is the `organization` parameter, one the user is legal staff
    of; without it, the only one they are legal staff of, or else a page to choose it."""
    organizations = policies.legal_organizations(request.user)
    if not organizations.exists():
        raise Http404("Compliance reports are for legal staff.")
    chosen = request.GET.get("organization", "")
    if chosen:
        try:
            organization = organizations.filter(pk=chosen).first()
        except ValidationError:
            organization = None
        if organization is None:
            raise Http404("No such organisation among those you are legal staff of.")
    elif organizations.count() == 1:
        organization = organizations.get()
    else:
        return render(request, "portal/report_choose.html", {
            "organizations": organizations, "start": request.GET.get("start", ""), "end": request.GET.get("end", ""),
            "file_format": request.GET.get("as", "")}, status=400 if request.GET.get("as") else 200)
    today = timezone.localdate()
    form = ReportForm({"start": request.GET.get("start", today.replace(day=1)), "end": request.GET.get("end", today)})
    rows = compliance_rows(organization=organization, start=form.cleaned_data["start"],
                           end=form.cleaned_data["end"]) if form.is_valid() else []
    if form.is_valid() and request.GET.get("as") == "csv":
        response = HttpResponse(compliance_csv(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (f'attachment; filename="compliance-{form.cleaned_data["start"]}-'
                                           f'{form.cleaned_data["end"]}.csv"')
        return response
    if form.is_valid() and request.GET.get("as") == "pdf":
        pdf = compliance_pdf(rows, organization=organization, start=form.cleaned_data["start"],
                             end=form.cleaned_data["end"])
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = (f'attachment; filename="compliance-{form.cleaned_data["start"]}-'
                                           f'{form.cleaned_data["end"]}.pdf"')
        return response
    return render(request, "portal/report.html", {"organization": organization, "form": form, "rows": rows},
                  status=200 if form.is_valid() else 400)
