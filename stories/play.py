"""Playing a published story: the viewer's path, the scenes rendered ahead of each choice,
and the signed cut at the end.

Every scene is a normal render under the licenses of the roles in it (the viewer's own
consent for the viewer role, the talent's license for each talent role), asked of the gate
at request, claim, every few steps and publication. While the viewer watches a scene, the
scenes behind each of its choices are requested ahead as speculative renders (PREFETCHED);
taking a choice keeps that one (re-sent at normal priority) and cancels the others. A
branch whose render the gate refuses is REFUSED, with the gate's reason for the player.

Scene continuity. A story asks for it with the global Ink tag ``# continuity: on`` (a scene's
own ``# continuity:`` tag overrides the story's for that scene). Such a scene continues from
the last frame of the scene before it on its path (the scene the viewer watched just before,
or, rendered ahead, the one they would have watched) when all of these hold, and otherwise
starts from its prompt alone:

- the deployment's model renders image-to-video (the wan family);
- the scene before it is published: rendered, labelled, signed, under a gate that allowed
  every role in it at publication;
- every license of the scene before it is a license of this scene's cast (its last frame
  carries those likenesses, so a role that left the scene would otherwise appear in a render
  not gated on its license).

Generation checks the same again at request (generation.services.scenes), refusing
anything else before writing, and the earlier scene becomes an ingredient of the new scene's
manifest. Prefetch: a continuing scene is rendered ahead only once the scene before it is
published; until then it WAITS, with no render requested (``scene_progress`` says so), and
is requested when the viewer takes the choice that leads to it. If the scene before it is
still not published then (a choice taken before the scene was shown), or its cast does not
cover the scene before, it renders from its prompt alone and its request records why
(``not_continued``). A scene never waits on a render that has not been asked for.

When the viewer's consent is revoked, the revocation's signal stops their playthroughs
(`playthroughs_stop_for_license`) and generation cancels every queued scene with them in
it; a running one stops at its next consent check and publishes nothing.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from audit.actors import user_actor
from audit.services import audit_append
from consent import gate
from consent.models import LikenessLicense, LikenessModel, Talent
from consent.viewers import viewer_licenses_for_story
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.object_storage import storage_save_path
from core.locking import Rank, lock_rows
from generation.models import RenderCast, RenderJob, RenderOutput
from generation.services.continuity import can_start_from_a_frame
from generation.services.render import render_job_cancel
from generation.services.scenes import CastMember, scene_render_prioritise, scene_render_request
from provenance import cut as provenance_cut
from provenance import services as provenance
from stories import ink
from stories.models import Playthrough, PlaythroughScene, Story, StoryCut, StoryRole

logger = logging.getLogger(__name__)

MAX_SCENELESS_STEPS = 50  # lines between scenes played through before giving up on a story
PREFETCH_AHEAD = 2  # scenes requested ahead along a branch that goes on without a choice


@dataclass(frozen=True)
class _SceneStep:
    step: ink.Step
    scene: ink.Scene | None  # None when the story ended without another scene


def _to_scene(first: Callable[[], ink.Step], compiled_json: str) -> _SceneStep:
    """Play until a step that has a scene (or the end): lines outside scenes are played through."""
    step = first()
    for _ in range(MAX_SCENELESS_STEPS):
        if step.scene is not None or step.ended or step.choices:
            return _SceneStep(step, step.scene)
        step = ink.play_continue(compiled_json, step.state)
    raise ValidationFailed("The story plays too many lines without a scene.", code="story_broken")


def _viewer_roles(story: Story) -> list[str]:
    return list(StoryRole.objects.filter(story=story, kind=StoryRole.Kind.VIEWER).values_list("name", flat=True))


def _likeness_model_id(license_id: object) -> str | None:
    model = (LikenessModel.objects.filter(license_id=license_id, status=LikenessModel.Status.ACTIVE)
             .order_by("-created_at").values_list("id", flat=True).first())
    return str(model) if model else None


def _cast(playthrough: Playthrough, scene: ink.Scene) -> list[CastMember]:
    roles = {role.name: role for role in StoryRole.objects.filter(story_id=playthrough.story_id)}
    members = []
    for name in scene.cast:
        role = roles[name]
        if role.kind == StoryRole.Kind.VIEWER:
            members.append(CastMember(role=name, license_id=str(playthrough.viewer_license_id),
                                      likeness_model_id=str(playthrough.viewer_likeness_model_id)
                                      if playthrough.viewer_likeness_model_id else None))
        else:
            members.append(CastMember(role=name, license_id=str(role.license_id),
                                      likeness_model_id=_likeness_model_id(role.license_id)))
    return members


def _scene_row(playthrough: Playthrough, found: _SceneStep, *, status: str, parent: PlaythroughScene | None,
               choice_index: int | None, choice_text: str, position: int | None) -> PlaythroughScene:
    scene = found.scene
    return PlaythroughScene.objects.create(
        playthrough=playthrough, parent=parent, choice_index=choice_index, choice_text=choice_text[:500],
        position=position, status=status, knot=scene.knot if scene else "", prompt=scene.prompt if scene else "",
        cast=list(scene.cast) if scene else [], text=list(found.step.text), choices=list(found.step.choices),
        ended=found.step.ended, state=found.step.state)


@dataclass(frozen=True)
class _Continuation:
    """Where a scene's render starts: the earlier output it continues from, or why it does not
    (``not_continued``), or that it waits for the scene before it to be published."""

    output_id: str | None = None
    not_continued: str = ""
    waits: bool = False


def _continuation(row: PlaythroughScene, cast: list[CastMember], scene: ink.Scene, *,
                  speculative: bool) -> _Continuation:
    """The rules of the module docstring, for one scene about to be requested."""
    if not scene.continues or row.parent_id is None:
        return _Continuation()
    if not can_start_from_a_frame():
        return _Continuation(not_continued="This deployment's model cannot render from a frame (image-to-video).")
    if not can_start_from_a_frame(likeness=any(member.likeness_model_id for member in cast)):
        return _Continuation(not_continued="This deployment's image-to-video model cannot take the cast's likeness "
                                           "models (its transformer has another shape than the text-to-video one).")
    before = row.parent
    job = RenderJob.objects.filter(pk=before.render_job_id).only("status").first() if before.render_job_id else None
    output = RenderOutput.objects.filter(job_id=job.pk).values_list("id", flat=True).first() \
        if job is not None and job.status == RenderJob.Status.SUCCEEDED else None
    if output is None:
        pending = branch_refusal(before) is None and (job is None or job.status not in RenderJob.TERMINAL)
        if speculative and pending and before.knot:
            return _Continuation(waits=True)
        return _Continuation(not_continued="The scene before it was not published when this one was requested.")
    licensed = {member.license_id for member in cast}
    left = sorted(role for role, license_id in RenderCast.objects.filter(job_id=job.pk)
                  .values_list("role", "license_id") if str(license_id) not in licensed)
    if left:
        return _Continuation(not_continued=f"The scene before it shows {', '.join(left)}, not cast in this one: its "
                                           "last frame cannot be carried into a render not made under their license.")
    return _Continuation(output_id=str(output))


def _request_render(row: PlaythroughScene, playthrough: Playthrough, scene: ink.Scene, *, speculative: bool,
                    acting_user: AbstractBaseUser) -> None:
    """Ask for the scene's render (or, for a continuing scene rendered ahead of the one before
    it, leave it waiting); a refusal (by the gate, or a scene that would wait for two
    approvals) marks the scene REFUSED with its reason."""
    cast = _cast(playthrough, scene)
    start = _continuation(row, cast, scene, speculative=speculative)
    if start.waits:
        return
    try:
        job = scene_render_request(cast=cast, prompt=scene.prompt,
                                   story_id=str(playthrough.story_id), seconds=scene.seconds,
                                   params=dict(settings.BESPOKE_STORY_SCENE_PARAMS), speculative=speculative,
                                   continue_from=start.output_id, not_continued=start.not_continued,
                                   acting_user=acting_user)
    except gate.ConsentRefused as refused:
        row.refusal_code, row.refusal_message = str(refused.decision.reason), str(refused)
    except ValidationFailed as refused:  # two licenses in the scene each ask to approve it
        if refused.code != "use_approval_required":
            raise
        row.refusal_code, row.refusal_message = refused.code, refused.message
    else:
        row.render_job_id = job.id
        row.save(update_fields=["render_job_id"])
        return
    row.status = PlaythroughScene.Status.REFUSED
    row.save(update_fields=["status", "refusal_code", "refusal_message"])


def _prefetch(playthrough: Playthrough, current: PlaythroughScene, compiled_json: str,
              acting_user: AbstractBaseUser, *, only: tuple[int | None] | None = None,
              ahead: int = PREFETCH_AHEAD) -> None:
    """Request the scenes behind each choice of ``current`` (or the one that follows it) ahead,
    and, where a branch goes on without a choice, the scenes after it too, ``ahead`` scenes deep:
    a short scene leaves too little time to render the next one only once it is reached.
    With ``only``, just the branch of that one choice, at the normal priority (it is taken now)."""
    if current.ended or ahead < 1:
        return
    branches = [(index, text, _branch_first(compiled_json, current, index))
                for index, text in (enumerate(current.choices) if current.choices else [(None, "")])]
    for index, text, first in branches:
        if only is not None and index not in only:
            continue
        row = PlaythroughScene.objects.filter(parent=current, choice_index=index).first()
        if row is None:
            found = _to_scene(first, compiled_json)
            row = _scene_row(playthrough, found, status=PlaythroughScene.Status.PREFETCHED, parent=current,
                             choice_index=index, choice_text=text, position=None)
            if found.scene is not None:
                _request_render(row, playthrough, found.scene, speculative=only is None, acting_user=acting_user)
        if only is None and row.status == PlaythroughScene.Status.PREFETCHED and not row.choices:
            _prefetch(playthrough, row, compiled_json, acting_user, ahead=ahead - 1)


def _branch_first(compiled_json: str, current: PlaythroughScene, index: int | None) -> Callable[[], ink.Step]:
    """The first step behind choice ``index`` of ``current`` (None: where it goes on without a choice)."""
    if index is None:
        return lambda: ink.play_continue(compiled_json, current.state)
    return lambda: ink.play_choose(compiled_json, current.state, index)


def _descendants(scenes: list[PlaythroughScene]) -> list[PlaythroughScene]:
    """The scenes requested ahead behind these ones, at any depth."""
    found, frontier = [], [scene.pk for scene in scenes]
    while frontier:
        below = list(PlaythroughScene.objects.select_for_update().filter(parent_id__in=frontier))
        found += below
        frontier = [scene.pk for scene in below]
    return found


def _viewer_talent(user: AbstractBaseUser) -> Talent:
    talent = Talent.objects.filter(user=user, kind=Talent.Kind.VIEWER).first()
    if talent is None:
        raise NotAllowed("Sign up as a viewer to star in stories.", code="not_found")
    return talent


def viewer_consent_for(*, story: Story, user: AbstractBaseUser) -> LikenessLicense | None:
    """The viewer's consent the gate allows for this story today, if any (refusals are not audited here)."""
    talent = Talent.objects.filter(user=user, kind=Talent.Kind.VIEWER).first()
    if talent is None:
        return None
    for license in viewer_licenses_for_story(talent=talent, licensee_id=story.organization_id, story_id=story.pk):
        if gate.license_refusal(license)[0] is None:
            return license
    return None


def playthrough_start(*, story: Story, acting_user: AbstractBaseUser, prefetch: bool = True) -> Playthrough:
    """Start playing a published story: its first scene is requested at once and the scenes
    behind its choices ahead (not with ``prefetch`` False: then each scene is requested only
    when its choice is taken). A story with a viewer role needs the viewer's consent in force
    and their likeness model trained under it."""
    if story.status != Story.Status.PUBLISHED:
        raise NotAllowed("No such story.", code="not_found")
    _viewer_talent(acting_user)
    license = viewer_consent_for(story=story, user=acting_user)
    if license is None:
        raise InvalidTransition("Consent to star in this story first (or again: your consent ended).",
                                code="viewer_consent_missing")
    model_id = _likeness_model_id(license.pk) if _viewer_roles(story) else None
    if _viewer_roles(story) and model_id is None:
        raise InvalidTransition("Your likeness model is not trained yet: train it, then play.",
                                code="likeness_model_missing")
    found = _to_scene(lambda: ink.play_start(story.compiled_json), story.compiled_json)
    if found.scene is None:
        raise ValidationFailed("The story has no scene to play.", code="story_broken")
    with transaction.atomic():
        playthrough = Playthrough.objects.create(story=story, viewer=acting_user, viewer_license=license,
                                                 viewer_likeness_model_id=model_id)
        audit_append(action="playthrough.started", actor=user_actor(acting_user), subject=playthrough.audit_subject,
                     data={"story": str(story.pk), "viewer_license": str(license.pk), "likeness_model": model_id})
        first = _scene_row(playthrough, found, status=PlaythroughScene.Status.CHOSEN, parent=None, choice_index=None,
                           choice_text="", position=0)
        _request_render(first, playthrough, found.scene, speculative=False, acting_user=acting_user)
        if first.ended:
            _end(playthrough)
        elif prefetch:
            _prefetch(playthrough, first, story.compiled_json, acting_user)
    return playthrough


def _end(playthrough: Playthrough) -> None:
    playthrough.status, playthrough.ended_at = Playthrough.Status.ENDED, timezone.now()
    playthrough.save(update_fields=["status", "ended_at"])


def current_scene(playthrough: Playthrough) -> PlaythroughScene:
    return playthrough.scenes.filter(status=PlaythroughScene.Status.CHOSEN).order_by("-position").first()


def _playable(playthrough: Playthrough, acting_user: AbstractBaseUser) -> Playthrough:
    playthrough = Playthrough.objects.select_for_update().get(pk=playthrough.pk)
    if playthrough.viewer_id != acting_user.pk:
        raise NotAllowed("No such playthrough.", code="not_found")
    if playthrough.status == Playthrough.Status.STOPPED:
        raise InvalidTransition(f"This playthrough was stopped: {playthrough.stop_reason}", code="playthrough_stopped")
    if playthrough.status == Playthrough.Status.ENDED:
        raise InvalidTransition("This playthrough has reached its ending.", code="playthrough_ended")
    return playthrough


def playthrough_choose(*, playthrough: Playthrough, index: int | None, acting_user: AbstractBaseUser,
                       after: object | None = None, prefetch: bool = True) -> PlaythroughScene:
    """Take a choice after the current scene (``index`` None: go on where there is no choice).
    The scene prefetched behind it becomes the next on the path; the other branches are
    cancelled; the scenes behind the new scene's choices are requested ahead (not with
    ``prefetch`` False: then only the chosen scene is requested, now, at the normal priority).

    ``after`` names the scene the viewer saw the choice under: the same choice sent twice (a
    double click, a resubmitted form) takes effect once and answers the scene it chose."""
    with transaction.atomic():
        playthrough = Playthrough.objects.select_for_update().get(pk=playthrough.pk)
        if after is not None:
            taken = PlaythroughScene.objects.filter(playthrough=playthrough, parent_id=after, choice_index=index,
                                                    status=PlaythroughScene.Status.CHOSEN).first()
            if taken is not None and playthrough.viewer_id == acting_user.pk:
                return taken
        playthrough = _playable(playthrough, acting_user)
        current = current_scene(playthrough)
        if after is not None and str(current.pk) != str(after):
            raise InvalidTransition("The story has moved on since this choice was shown.", code="choice_stale")
        offered = range(len(current.choices)) if current.choices else [None]
        if index not in offered:
            raise ValidationFailed("That choice is not offered here.", field="choice")
        story = playthrough.story
        _prefetch(playthrough, current, story.compiled_json, acting_user, only=None if prefetch else (index,))
        branches = list(PlaythroughScene.objects.select_for_update().filter(parent=current))
        chosen = next(branch for branch in branches if branch.choice_index == index)
        if chosen.status == PlaythroughScene.Status.PREFETCHED and chosen.render_job_id is None and chosen.knot:
            # A continuing scene that waited for the one before it: requested now, continued if it can be.
            found = _to_scene(_branch_first(story.compiled_json, current, index), story.compiled_json)
            _request_render(chosen, playthrough, found.scene, speculative=False, acting_user=acting_user)
        if chosen.status == PlaythroughScene.Status.REFUSED:
            raise InvalidTransition(f"This branch is gone: {chosen.refusal_message}", code="branch_refused")
        refusal = branch_refusal(chosen)
        if refusal is not None:
            raise InvalidTransition(f"This branch is gone: {refusal}", code="branch_refused")
        chosen.status, chosen.position = PlaythroughScene.Status.CHOSEN, current.position + 1
        chosen.save(update_fields=["status", "position"])
        others = [b for b in branches if b.pk != chosen.pk]
        discarded = [b for b in others + _descendants(others) if b.status == PlaythroughScene.Status.PREFETCHED]
        for branch in discarded:
            branch.status = PlaythroughScene.Status.DISCARDED
            branch.save(update_fields=["status"])
        audit_append(action="playthrough.chose", actor=user_actor(acting_user), subject=playthrough.audit_subject,
                     data={"after": current.knot, "choice": index, "scene": chosen.knot,
                           "discarded": [b.knot for b in discarded]})
        if chosen.ended:
            _end(playthrough)
        elif prefetch:
            _prefetch(playthrough, chosen, story.compiled_json, acting_user)
        jobs_to_cancel = [b.render_job_id for b in discarded if b.render_job_id]
        chosen_job = chosen.render_job_id
    if chosen_job:
        scene_render_prioritise(job=RenderJob.objects.get(pk=chosen_job))
    for job_id in jobs_to_cancel:
        _cancel_quietly(job_id, acting_user)
    return chosen


def _cancel_quietly(job_id: object, acting_user: AbstractBaseUser) -> None:
    job = RenderJob.objects.filter(pk=job_id).first()
    if job is None or job.status in RenderJob.TERMINAL:
        return
    try:
        render_job_cancel(job=job, acting_user=acting_user)
    except InvalidTransition:
        pass  # it ended meanwhile


def branch_refusal(scene: PlaythroughScene) -> str | None:
    """Why a branch cannot be played (its render refused or cancelled by the gate), None if it can."""
    if scene.status == PlaythroughScene.Status.REFUSED:
        return scene.refusal_message
    if scene.render_job_id is None:
        return None
    job = RenderJob.objects.filter(pk=scene.render_job_id).only("status", "outcome_code", "outcome_message").first()
    if job is not None and job.status == RenderJob.Status.CANCELLED and job.outcome_code not in ("", "cancelled"):
        return job.outcome_message
    if job is not None and job.status == RenderJob.Status.FAILED:
        return f"The scene could not be rendered: {job.outcome_message}"
    return None


def playthroughs_stop_for_license(*, license_id: str, actor: str, **_: object) -> list[str]:
    """The viewer's consent was revoked: their playthroughs under it stop (generation cancels the
    queued scenes with them in it, from the same signal)."""
    stopped = []
    for playthrough_id in Playthrough.objects.filter(viewer_license_id=license_id).exclude(
            status=Playthrough.Status.STOPPED).values_list("id", flat=True):
        with transaction.atomic():
            playthrough = Playthrough.objects.select_for_update().get(pk=playthrough_id)
            if playthrough.status == Playthrough.Status.STOPPED:
                continue
            playthrough.status = Playthrough.Status.STOPPED
            playthrough.stop_reason = "You revoked your consent: the scenes with you are cancelled and no cut can be made."
            playthrough.ended_at = playthrough.ended_at or timezone.now()
            playthrough.save(update_fields=["status", "stop_reason", "ended_at"])
            audit_append(action="playthrough.stopped", actor=actor, subject=playthrough.audit_subject,
                         data={"license": license_id, "reason": "license_revoked"})
            stopped.append(str(playthrough.pk))
    return stopped


# --- The cut --------------------------------------------------------------------------------------------


def _path_outputs(playthrough: Playthrough) -> tuple[list[PlaythroughScene], list[RenderOutput]]:
    path = list(playthrough.scenes.filter(status=PlaythroughScene.Status.CHOSEN).order_by("position"))
    outputs = {o.job_id: o for o in RenderOutput.objects.filter(job_id__in=[s.render_job_id for s in path])}
    missing = [scene.knot for scene in path if scene.render_job_id not in outputs]
    if missing:
        raise InvalidTransition(f"Not every scene of the path is rendered yet ({', '.join(missing)}).",
                                code="scenes_not_ready")
    return path, [outputs[scene.render_job_id] for scene in path]


def _licenses_of(path: list[PlaythroughScene]) -> list[str]:
    ids = RenderCast.objects.filter(job_id__in=[s.render_job_id for s in path]).values_list("license_id", flat=True)
    return sorted({str(i) for i in ids})


def playthrough_cut_make(*, playthrough: Playthrough, acting_user: AbstractBaseUser) -> StoryCut:
    """Join the path's scenes into one signed MP4 (no re-render, no re-encode). Refused while a
    scene is not rendered, and when any consent behind the scenes is no longer in force."""
    playthrough = Playthrough.objects.get(pk=playthrough.pk)
    if playthrough.viewer_id != acting_user.pk:
        raise NotAllowed("No such playthrough.", code="not_found")
    if playthrough.status == Playthrough.Status.STOPPED:
        raise InvalidTransition(f"No cut can be made: {playthrough.stop_reason}", code="playthrough_stopped")
    if playthrough.status != Playthrough.Status.ENDED:
        raise InvalidTransition("Play to an ending first.", code="playthrough_not_ended")
    existing = StoryCut.objects.filter(playthrough=playthrough).first()
    if existing is not None:
        return existing
    path, outputs = _path_outputs(playthrough)
    license_ids = _licenses_of(path)
    actor = user_actor(acting_user)
    for license_id in license_ids:  # early and unlocked: a refusal costs no assembly
        _cut_allowed(license_id, playthrough, actor, locked=False)
    cut_id = str(uuid.uuid4())
    choices = [scene.choice_text for scene in path[1:]]  # "" where the story went on without a choice
    workdir = Path(tempfile.mkdtemp(prefix=f"bespoke-cut-{cut_id}-"))
    stored = ""
    made: StoryCut | None = None
    try:
        sources = []
        for index, output in enumerate(outputs):
            local = workdir / f"scene-{index:03d}.mp4"
            with default_storage.open(output.file.name, "rb") as source, local.open("wb") as target:
                shutil.copyfileobj(source, target)
            sources.append(local)
        joined = workdir / "joined.mp4"
        provenance_cut.concatenate_mp4(sources, joined)
        signed = provenance.cut_sign(src=joined, dst=workdir / f"{cut_id}.mp4", cut_id=cut_id, scenes=sources,
                                     choices=choices, title=playthrough.story.title)
        choices = [choice for choice in choices if choice]
        stored = storage_save_path(f"cuts/{playthrough.pk}/{cut_id}.mp4", signed.path)
        with transaction.atomic():
            lock_rows(LikenessLicense.objects.select_for_update().filter(pk__in=license_ids), Rank.LICENSE)
            for license_id in license_ids:
                _cut_allowed(license_id, playthrough, actor, locked=True)
            made = StoryCut.objects.create(
                id=cut_id, playthrough=playthrough, file=stored, sha256=signed.sha256, size_bytes=signed.size_bytes,
                manifest_label=signed.manifest_label, scene_outputs=[str(o.pk) for o in outputs], choices=choices)
            audit_append(action="playthrough.cut_made", actor=actor, subject=playthrough.audit_subject,
                         data={"cut": cut_id, "sha256": signed.sha256, "manifest": signed.manifest_label,
                               "scenes": [str(o.pk) for o in outputs], "licenses": license_ids})
    finally:
        if made is None and stored:
            default_storage.delete(stored)
        shutil.rmtree(workdir, ignore_errors=True)
    return made


def _cut_allowed(license_id: str, playthrough: Playthrough, actor: str, *, locked: bool) -> None:
    use = gate.UseRequest(license_id=license_id, medium=LikenessLicense.Medium.VIDEO, prompt="", interactive=True,
                          story_id=str(playthrough.story_id))
    decide = gate.check_locked if locked else gate.check
    decision = decide(use=use, stage=gate.Stage.PUBLISH if locked else gate.Stage.REQUEST, actor=actor,
                      subject=playthrough.audit_subject)
    if not decision.allowed:
        raise gate.ConsentRefused(decision)


# --- What the player shows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneProgress:
    """A scene as the player shows it: ``state`` is ready (``output_id`` set), queued, rendering
    (``step`` of ``total``), awaiting_approval, waiting (a continuing scene not rendered ahead:
    ``message`` says why), gone (``message`` says why) or failed."""

    scene: PlaythroughScene
    state: str
    output_id: str | None = None
    step: int = 0
    total: int = 0
    message: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"scene": str(self.scene.pk), "knot": self.scene.knot, "state": self.state,
                "output": self.output_id, "step": self.step, "total": self.total, "message": self.message}


def scene_progress(scene: PlaythroughScene) -> SceneProgress:
    refusal = branch_refusal(scene)
    if refusal is not None:
        return SceneProgress(scene, "gone", message=refusal)
    if scene.render_job_id is None:
        if scene.status == PlaythroughScene.Status.PREFETCHED and scene.knot:
            return SceneProgress(scene, "waiting", message="This scene continues from the last frame of the one "
                                 "before it: it is rendered once that one is published and this choice is taken.")
        return SceneProgress(scene, "gone", message="No render was requested for this scene.")
    job = RenderJob.objects.filter(pk=scene.render_job_id).first()
    if job is None:
        return SceneProgress(scene, "gone", message="The render is not there.")
    if job.status == RenderJob.Status.SUCCEEDED:
        output = RenderOutput.objects.filter(job=job).values_list("id", flat=True).first()
        return SceneProgress(scene, "ready", output_id=str(output))
    if job.status == RenderJob.Status.CANCELLED:
        return SceneProgress(scene, "gone", message=job.outcome_message or "The render was cancelled.")
    if job.status == RenderJob.Status.AWAITING_APPROVAL:
        return SceneProgress(scene, "awaiting_approval", message="Waiting for approval of this scene.")
    if job.status == RenderJob.Status.RUNNING:
        return SceneProgress(scene, "rendering", step=job.progress_step, total=job.progress_total)
    return SceneProgress(scene, "queued")
