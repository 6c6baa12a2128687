"""The talent's own pages (every use of their likeness, reference photos, export, erasure)
and the producer's render controls (cancel). Thin views, scoped through selectors: a page
that is not the caller's is a 404, and each action is one service call.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.stepup import step_up_required
from core.errors import ApplicationError
from bespoke.portal.talent_forms import EraseForm, ReferencePhotoForm
from bespoke.talent_data import own_talent, talent_data_download
from consent import selectors as consent_selectors, services as consent
from consent.api import REVOCATION_EFFECTS
from consent.models import Talent
from generation import selectors as generation_selectors
from generation.services import render as renders
from generation.thumbnails import ThumbnailUnavailable, output_thumbnail_jpeg

LIKENESS_PAGE_SIZE = 25


def _talent_or_404(request: HttpRequest) -> Talent:
    talent = own_talent(user=request.user)
    if talent is None:
        raise Http404("This page is for talent.")
    return talent


@login_required
@require_GET
def my_likeness(request: HttpRequest) -> HttpResponse:
    """Every published render that used the talent's likeness, newest first."""
    _talent_or_404(request)
    page = Paginator(generation_selectors.likeness_outputs_for_talent(user=request.user).prefetch_related("job__cast"),
                     LIKENESS_PAGE_SIZE).get_page(request.GET.get("page"))
    under = {output.id: [output.job.license_id, *(cast.license_id for cast in output.job.cast.all())]
             for output in page}  # a scene of a story names the talent's license in one of its roles
    licenses = consent_selectors.licenses_for_user(user=request.user).filter(talent__user=request.user) \
        .select_related("licensee").in_bulk({license_id for ids in under.values() for license_id in ids})
    for output in page:
        output.license = next((licenses[i] for i in under[output.id] if i in licenses), None)
    return render(request, "portal/my_likeness.html", {"outputs": page, "page": page})


@login_required
@require_GET
def likeness_thumbnail(request: HttpRequest, output_id: str) -> HttpResponse:
    """The first frame of one of the talent's outputs, decoded now and never stored."""
    _talent_or_404(request)
    output = generation_selectors.likeness_output_get_for_talent(user=request.user, output_id=output_id)
    try:
        jpeg = output_thumbnail_jpeg(output=output)
    except ThumbnailUnavailable:
        raise Http404("This output has no readable frame.") from None
    response = HttpResponse(jpeg, content_type="image/jpeg")
    patch_cache_control(response, private=True, max_age=3600)
    return response


def photo_added(request: HttpRequest, talent: Talent, form: ReferencePhotoForm) -> bool:
    """Add the posted reference photo (a talent's or a viewer's); a refusal goes on the form's photo field."""
    if not form.is_valid():
        return False
    upload = form.cleaned_data["photo"]
    try:
        consent.reference_photo_add(talent=talent, data=upload.read(), filename=upload.name, acting_user=request.user)
    except ApplicationError as error:
        form.add_error("photo", error.message)
        return False
    messages.success(request, "Photo added. It was re-encoded (no location or camera data kept) and stored encrypted "
                              "under a key that is yours alone.")
    return True


@login_required
@require_http_methods(["GET", "POST"])
def my_photos(request: HttpRequest) -> HttpResponse:
    """The talent's reference photos (records only: the photos stay sealed) and an upload form."""
    talent = _talent_or_404(request)
    form = ReferencePhotoForm(request.POST, request.FILES) if request.method == "POST" else ReferencePhotoForm()
    if request.method == "POST" and photo_added(request, talent, form):
        return redirect("portal-my-photos")
    return render(request, "portal/my_photos.html", {
        "form": form, "photos": consent_selectors.reference_photos_of_talent(talent=talent),
        "erased_at": consent_selectors.talent_erased_at(talent=talent),
        "min_side": settings.BESPOKE_PHOTO_MIN_SIDE, "max_mb": settings.BESPOKE_PHOTO_MAX_BYTES // 1_048_576,
    }, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required(scope=_talent_or_404)
def my_export(request: HttpRequest) -> HttpResponse:
    """What the export holds (GET); the download itself (POST, after a fresh confirmation)."""
    talent = _talent_or_404(request)
    if request.method == "POST":
        return talent_data_download(talent=talent, acting_user=request.user)
    return render(request, "portal/my_export.html", {"talent": talent})


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required(scope=_talent_or_404)
def my_erase(request: HttpRequest) -> HttpResponse:
    """Consequences first (GET); then, with the typed confirmation and a fresh confirmation, erase."""
    talent = _talent_or_404(request)
    erased_at = consent_selectors.talent_erased_at(talent=talent)
    form = EraseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and erased_at is None and form.is_valid():
        try:
            result = consent.talent_erase(talent=talent, acting_user=request.user)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Your likeness data was erased: {len(result['revoked_licenses'])} license(s) "
                                      f"revoked, {len(result['destroyed_models'])} likeness model(s) destroyed.")
            return redirect("home")
    return render(request, "portal/my_erase.html", {
        "form": form, "erased_at": erased_at, "revocation_effects": REVOCATION_EFFECTS,
        "licenses": consent_selectors.licenses_revoked_on_erasure(talent=talent),
        "photo_count": consent_selectors.reference_photos_of_talent(talent=talent).count(),
        "model_count": consent_selectors.active_likeness_models_of_talent(talent=talent).count(),
        "evidence_count": consent_selectors.identity_evidence_of_talent(talent=talent).count(),
    }, status=400 if form.errors else 200)


@login_required
@require_POST
def render_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    """The producer who asked, or legal, cancels a render; anyone else in scope is told why not."""
    job = generation_selectors.job_get_for_user(generation_selectors.render_jobs_for_user(user=request.user), job_id)
    try:
        job = renders.render_job_cancel(job=job, acting_user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Cancelled." if job.status == job.Status.CANCELLED
                         else "Cancelling: the render stops at its next step.")
    return redirect("portal-renders")
