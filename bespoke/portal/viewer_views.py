"""The viewer's pages: star in a published story (photos, the capture with a challenge code, the
consent, the likeness model), play it, keep the signed cut, and revoke from the player.

A viewer sees only published stories open to viewers and only their own playthroughs (404
otherwise). The player never shows a frame that is not a published output, so every frame it
shows carries the visible label, the watermark and the signed manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.db.models import Q
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from consent import gate
from consent import services as consent
from consent.api import signature_context
from consent.models import LikenessLicense, LikenessModel, ReferencePhoto, Talent
from consent.terms import DISCLOSURE_VERSION, ELECTRONIC_RECORDS_DISCLOSURE, text_sha256
from consent.viewers import (
    Scope,
    StandingOffer,
    face_check_start,
    face_check_submit,
    min_photos,
    viewer_license_sign,
    viewer_license_text,
)
from consent.facts import viewer_face_checked
from core.downloads import stored_file_response
from core.errors import ApplicationError
from core.stepup import step_up_required
from generation.models import RenderJob, RenderOutput, TrainingJob
from generation.services.render import render_job_decide
from generation.services.training import training_job_request
from stories import play, selectors
from stories.models import Playthrough, PlaythroughScene, Story, StoryCut
from bespoke.portal.talent_forms import ReferencePhotoForm
from bespoke.portal.talent_views import photo_added
from bespoke.portal.viewer_forms import CaptureForm, ChoiceForm, ViewerConsentForm

REVOKE_FROM_PLAYER_REASON = "Revoked by the viewer from the player."


def _viewer(request: HttpRequest) -> Talent | None:
    return Talent.objects.filter(user=request.user, kind=Talent.Kind.VIEWER).first()


def _viewer_or_404(request: HttpRequest, *_: Any, **__: Any) -> Talent:
    talent = _viewer(request)
    if talent is None:
        raise Http404("These pages are for viewers.")
    return talent


def _offer(story: Story) -> StandingOffer:
    return StandingOffer(licensee=story.organization, story_id=str(story.pk), story_title=story.title)


def _consent_choice(request: HttpRequest) -> tuple[str, bool]:
    """The scope and whether to approve each scene, as chosen on the page (its links) or posted."""
    source = request.POST if request.method == "POST" else request.GET
    return (Scope.STUDIO if source.get("scope") == Scope.STUDIO else Scope.STORY,
            source.get("approve_each") in ("1", "True", "true", "on"))


def _act(request: HttpRequest, action: Callable[[], object], *, done: str, refused: str = "Refused") -> bool:
    """Run one service action and say how it went: done, refused by the gate (with its reason), or not allowed."""
    try:
        action()
    except gate.ConsentRefused as refusal:
        messages.error(request, f"{refused}: {refusal.decision.message}")
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
        return True
    return False


def _training(license: LikenessLicense | None) -> TrainingJob | None:
    if license is None:
        return None
    return TrainingJob.objects.filter(license_id=license.pk).order_by("-created_at").first()


@login_required
@require_GET
def star(request: HttpRequest, story_id: str) -> HttpResponse:
    """Each step in order, the next one open: photos, the capture, the consent, the likeness model, play."""
    return _star_page(request, story_id)


def _star_page(request: HttpRequest, story_id: str, *, capture_form: CaptureForm | None = None,
               photo_form: ReferencePhotoForm | None = None, consent_form: ViewerConsentForm | None = None,
               status: int = 200) -> HttpResponse:
    """The star page, also as the answer to a refused step's POST (its form shows the errors)."""
    talent = _viewer_or_404(request)  # a story's star page is for viewers; anyone else is told it is not there
    story = selectors.story_open_to_viewers_get(story_id=story_id)
    context: dict[str, Any] = {"story": story, "talent": talent}
    if talent is not None:
        scope, approve_each = _consent_choice(request)
        license = play.viewer_consent_for(story=story, user=request.user)
        text = viewer_license_text(talent=talent, offer=_offer(story), scope=scope,
                                   requires_use_approval=approve_each)
        photos = ReferencePhoto.objects.filter(talent=talent, deleted_at__isnull=True).count()
        face_checked = viewer_face_checked(talent_id=talent.pk)
        context.update({
            "photos": photos, "min_photos": min_photos(), "face_checked": face_checked,
            "challenge": face_check_start(acting_user=request.user) if photos >= min_photos() and not face_checked
            else None,
            "license": license, "scope": scope, "approve_each": approve_each, "text": text,
            "photo_form": photo_form or ReferencePhotoForm(), "capture_form": capture_form or CaptureForm(),
            "consent_form": consent_form or ViewerConsentForm(initial={
                "text_sha256": text_sha256(text), "scope": scope, "approve_each": approve_each}),
            "disclosure": ELECTRONIC_RECORDS_DISCLOSURE,
            "training": _training(license),
            "likeness_model": LikenessModel.objects.filter(license=license, status=LikenessModel.Status.ACTIVE)
            .first() if license else None,
            "playthroughs": selectors.playthroughs_of_viewer(user=request.user, story=story)[:10],
            "ended_consent": None if license else LikenessLicense.objects.filter(
                talent=talent, kind=LikenessLicense.Kind.VIEWER, licensee=story.organization,
                status__in=(LikenessLicense.Status.REVOKED, LikenessLicense.Status.EXPIRED))
            .filter(Q(scope_story_id=story.pk) | Q(scope_story_id__isnull=True)).order_by("-status_changed_at").first(),
        })
    return render(request, "portal/star.html", context, status=status)


@login_required
@require_POST
def star_photo(request: HttpRequest, story_id: str) -> HttpResponse:
    talent = _viewer_or_404(request)
    story = selectors.story_open_to_viewers_get(story_id=story_id)
    form = ReferencePhotoForm(request.POST, request.FILES)
    if photo_added(request, talent, form):
        return redirect("portal-star", story_id=story.pk)
    return _star_page(request, str(story.pk), photo_form=form, status=400)


@login_required
@require_POST
def star_capture(request: HttpRequest, story_id: str) -> HttpResponse:
    _viewer_or_404(request)
    story = selectors.story_open_to_viewers_get(story_id=story_id)
    form = CaptureForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["capture"]
        try:
            face_check_submit(capture=upload.read(), filename=upload.name, acting_user=request.user)
        except ApplicationError as error:
            form.add_error("capture", error.message)
        else:
            messages.success(request, "Your capture and your photos show the same person.")
            return redirect("portal-star", story_id=story.pk)
    return _star_page(request, str(story.pk), capture_form=form, status=400)


@login_required
@require_POST
@step_up_required(scope=_viewer_or_404, require_mfa=False)
def star_consent(request: HttpRequest, story_id: str) -> HttpResponse:
    story = selectors.story_open_to_viewers_get(story_id=story_id)
    form = ViewerConsentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            context = signature_context(request, {**data, "disclosure_version": DISCLOSURE_VERSION},
                                        request.step_up_method)
            viewer_license_sign(offer=_offer(story), scope=data["scope"], requires_use_approval=data["approve_each"],
                                context=context, acting_user=request.user)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Signed. You can revoke your consent at any moment, from the player too.")
            return redirect("portal-star", story_id=story.pk)
    return _star_page(request, str(story.pk), consent_form=form, status=400)


@login_required
@require_POST
def star_train(request: HttpRequest, story_id: str) -> HttpResponse:
    _viewer_or_404(request)
    story = selectors.story_open_to_viewers_get(story_id=story_id)
    license = play.viewer_consent_for(story=story, user=request.user)
    if license is None:
        messages.error(request, "Consent to star in this story first.")
    else:
        _act(request, lambda: training_job_request(license_id=str(license.pk), acting_user=request.user),
             done="Your likeness model is being trained; this page shows when it is ready.")
    return redirect("portal-star", story_id=story.pk)


@login_required
@require_POST
def star_play(request: HttpRequest, story_id: str) -> HttpResponse:
    _viewer_or_404(request)
    story = selectors.story_open_to_viewers_get(story_id=story_id)
    try:
        playthrough = play.playthrough_start(story=story, acting_user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("portal-star", story_id=story.pk)
    return redirect("portal-player", playthrough_id=playthrough.pk)


# --- The player ----------------------------------------------------------------------------------------


def _player_state(playthrough: Playthrough) -> dict[str, Any]:
    path = selectors.playthrough_path(playthrough=playthrough)
    current = path[-1] if path else None
    choices = []
    if current is not None and playthrough.status == Playthrough.Status.PLAYING:
        branches = {b.choice_index: b for b in selectors.playthrough_branches(scene=current)}
        labels = current.choices or ["Continue"]
        for index, label in enumerate(labels):
            branch = branches.get(index if current.choices else None)
            progress = play.scene_progress(branch) if branch is not None else None
            choices.append({"index": index if current.choices else None, "label": label,
                            "gone": progress.message if progress and progress.state == "gone" else "",
                            "ready": bool(progress and progress.state == "ready")})
    cut = StoryCut.objects.filter(playthrough=playthrough).first()
    progress = [play.scene_progress(scene) for scene in path]
    return {
        "status": playthrough.status, "stop_reason": playthrough.stop_reason, "path": progress, "choices": choices,
        "cut": str(cut.pk) if cut else None,
        # What the page shows, in one string: the page holds the one it was drawn with and reloads when the
        # polled one differs (a step's progress is not in it: the page does not reload for each step).
        "signature": "|".join([playthrough.status, ",".join(p.state for p in progress),
                               ",".join(f"{c['gone']}:{c['ready']}" for c in choices), str(cut.pk) if cut else ""]),
    }


@login_required
@require_GET
def player(request: HttpRequest, playthrough_id: str) -> HttpResponse:
    playthrough = selectors.playthrough_get_for_viewer(user=request.user, playthrough_id=playthrough_id)
    state = _player_state(playthrough)
    return render(request, "portal/player.html", {
        "playthrough": playthrough, "story": playthrough.story, **state,
        "current": state["path"][-1] if state["path"] else None,
        "license": playthrough.viewer_license,
        "revocable": playthrough.viewer_license.status in (LikenessLicense.Status.SIGNED,),
        "state_url": reverse("portal-player-state", args=[playthrough.pk]),
    })


@login_required
@require_GET
def player_state(request: HttpRequest, playthrough_id: str) -> JsonResponse:
    """What the page polls while a scene renders: each scene's state, the choices, gone branches."""
    playthrough = selectors.playthrough_get_for_viewer(user=request.user, playthrough_id=playthrough_id)
    state = _player_state(playthrough)
    return JsonResponse({**state, "path": [p.as_dict() for p in state["path"]]})


@login_required
@require_POST
def player_choose(request: HttpRequest, playthrough_id: str) -> HttpResponse:
    playthrough = selectors.playthrough_get_for_viewer(user=request.user, playthrough_id=playthrough_id)
    form = ChoiceForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That choice is not offered here.")
    else:
        try:
            play.playthrough_choose(playthrough=playthrough, index=form.cleaned_data["choice"],
                                    after=form.cleaned_data["after"], acting_user=request.user)
        except ApplicationError as error:
            messages.error(request, error.message)
    return redirect("portal-player", playthrough_id=playthrough.pk)


def _path_scene(request: HttpRequest, playthrough_id: str, scene_id: str) -> tuple[Playthrough, PlaythroughScene]:
    """A scene on the path of one of the viewer's own playthroughs; anything else is a 404."""
    playthrough = selectors.playthrough_get_for_viewer(user=request.user, playthrough_id=playthrough_id)
    scene = PlaythroughScene.objects.filter(playthrough=playthrough, pk=scene_id,
                                            status=PlaythroughScene.Status.CHOSEN).first()
    if scene is None:
        raise Http404("No such scene.")
    return playthrough, scene


@login_required
@require_POST
def player_approve(request: HttpRequest, playthrough_id: str, scene_id: str) -> HttpResponse:
    """The viewer approves a scene of their path before it renders (when their consent asks for it)."""
    playthrough, scene = _path_scene(request, playthrough_id, scene_id)
    job = RenderJob.objects.filter(pk=scene.render_job_id).first() if scene.render_job_id else None
    if job is None:
        raise Http404("No such scene.")
    _act(request, lambda: render_job_decide(job=job, approve=True, reason="", acting_user=request.user),
         done="Approved: the scene renders now.")
    return redirect("portal-player", playthrough_id=playthrough.pk)


@login_required
@require_GET
def player_scene_video(request: HttpRequest, playthrough_id: str, scene_id: str) -> HttpResponse:
    """A scene of the viewer's path, once published (labelled, watermarked, signed): nothing else."""
    _, scene = _path_scene(request, playthrough_id, scene_id)
    output = RenderOutput.objects.filter(job_id=scene.render_job_id).first() if scene.render_job_id else None
    if output is None:
        raise Http404("This scene is not rendered.")
    return stored_file_response(request, output.file.name, filename=f"scene-{scene.position}.mp4",
                                content_type="video/mp4", inline=True)


@login_required
@require_POST
def player_cut(request: HttpRequest, playthrough_id: str) -> HttpResponse:
    playthrough = selectors.playthrough_get_for_viewer(user=request.user, playthrough_id=playthrough_id)
    _act(request, lambda: play.playthrough_cut_make(playthrough=playthrough, acting_user=request.user),
         done="Your cut is ready: one signed file, each scene's own manifest inside.", refused="No cut can be made")
    return redirect("portal-player", playthrough_id=playthrough.pk)


@login_required
@require_GET
def player_cut_download(request: HttpRequest, playthrough_id: str) -> HttpResponse:
    playthrough = selectors.playthrough_get_for_viewer(user=request.user, playthrough_id=playthrough_id)
    cut = StoryCut.objects.filter(playthrough=playthrough).first()
    if cut is None:
        raise Http404("No cut yet.")
    return stored_file_response(request, cut.file.name, filename=f"{playthrough.story.title[:60]}.mp4",
                                content_type="video/mp4")


@login_required
@require_POST
def player_revoke(request: HttpRequest, playthrough_id: str) -> HttpResponse:
    """Revoke the consent behind the playthrough in one action (GDPR Art. 7(3): as easy as giving it)."""
    playthrough = selectors.playthrough_get_for_viewer(user=request.user, playthrough_id=playthrough_id)
    _act(request, lambda: consent.license_revoke(license=playthrough.viewer_license, reason=REVOKE_FROM_PLAYER_REASON,
                                                 acting_user=request.user),
         done="Your consent is revoked: every scene with you that was not yet published is cancelled, your likeness "
              "model is destroyed, and no new cut can be made.")
    return redirect("portal-player", playthrough_id=playthrough.pk)

