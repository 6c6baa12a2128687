"""Playing a story, with the personas: Vera (a viewer, Eileen Collins' face) stars as the lead of
Harbour Lights, Alice plays her friend under her interactive license, and every scene is a real
render of the tiny pipeline under both consents. Jobs run here, synchronously, as a worker would."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.http import Http404

from audit.selectors import audit_chain_verify
from consent import gate
from consent import services as consent_services
from consent.models import LicenseUse, LikenessModel
from core.errors import InvalidTransition, ValidationFailed
from generation.models import RenderCast, RenderJob
from generation.services.render import render_job_execute
from generation.services.training import training_job_execute, training_job_request
from generation.tracing import media_verify
from stories import play, selectors
from stories.models import Playthrough, PlaythroughScene
from tests.conftest import make_license
from tests.viewers import make_viewer, pass_face_check, published_story, viewer_consent

pytestmark = pytest.mark.django_db

SCENE_PARAMS = {"width": 128, "height": 128, "steps": 2, "fps": 4}


@pytest.fixture
def stage(personas, django_user_model, tiny_model, settings):  # type: ignore[no-untyped-def]
    """A published Harbour Lights, Vera's face checked, her consent signed and her likeness model trained."""
    settings.BESPOKE_STORY_SCENE_PARAMS = SCENE_PARAMS
    alice_license = make_license(personas, interactive=True, max_renders=50)
    story = published_story(personas, alice_license)
    vera = make_viewer(django_user_model)
    pass_face_check(vera)
    consent = viewer_consent(vera, story)
    job = training_job_request(license_id=str(consent.id), acting_user=vera.user,
                               params={"steps": 4, "num_class_images": 1, "prior_preservation": False})
    assert training_job_execute(job_id=str(job.id), worker="w1").status == "succeeded"
    return type("Stage", (), {"story": story, "vera": vera, "consent": consent, "alice_license": alice_license,
                              "personas": personas})


def _render(scene: PlaythroughScene) -> RenderJob:
    scene.refresh_from_db()
    job = render_job_execute(job_id=str(scene.render_job_id), worker="w1")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    return job


def _branch(current: PlaythroughScene, index: int | None) -> PlaythroughScene:
    return PlaythroughScene.objects.get(parent=current, choice_index=index)


def test_a_viewer_plays_two_choices_to_an_ending_and_gets_a_signed_cut_of_her_path(stage):
    vera = stage.vera.user
    playthrough = play.playthrough_start(story=stage.story, acting_user=vera)
    first = play.current_scene(playthrough)
    assert (first.knot, first.position, first.choices) == ("harbour_dawn", 0,
                                                           ["Wave to your friend", "Walk to the lighthouse alone"])
    wave, alone = _branch(first, 0), _branch(first, 1)
    assert (wave.knot, wave.status, alone.knot, alone.status) == ("pier_talk", "prefetched", "cliff_path", "prefetched")
    assert RenderJob.objects.get(pk=wave.render_job_id).speculative
    assert sorted(RenderCast.objects.filter(job_id=wave.render_job_id).values_list("role", flat=True)) == ["friend", "lead"]
    _render(first)

    play.playthrough_choose(playthrough=playthrough, index=1, acting_user=vera)  # walk alone
    alone.refresh_from_db(), wave.refresh_from_db()
    assert (alone.status, alone.position, wave.status) == ("chosen", 1, "discarded")
    assert RenderJob.objects.get(pk=wave.render_job_id).status == RenderJob.Status.CANCELLED
    assert not RenderJob.objects.get(pk=alone.render_job_id).speculative  # chosen: normal priority now
    _render(alone)
    for index in (1, None, 1):  # climb in through the window, on to the lamp room, leave it dark
        chosen = play.playthrough_choose(playthrough=playthrough, index=index, acting_user=vera)
        _render(chosen)
    playthrough.refresh_from_db()
    path = selectors.playthrough_path(playthrough=playthrough)
    assert [s.knot for s in path] == ["harbour_dawn", "cliff_path", "window_climb", "lamp_room", "ending_dark"]
    assert playthrough.status == Playthrough.Status.ENDED

    cut = play.playthrough_cut_make(playthrough=playthrough, acting_user=vera)
    assert cut.choices == ["Walk to the lighthouse alone", "Climb in through the window", "Leave it dark"]
    verification = media_verify(path=Path(default_storage.path(cut.file.name)))
    assert verification.manifest.state == "trusted"
    ingredients = verification.manifest.ingredients
    assert len(ingredients) == len(path)
    assert all(str(stage.consent.id) in {c.license_id for c in i.consents} for i in ingredients)
    assert audit_chain_verify().ok


def test_a_branch_whose_talent_revoked_is_gone_with_the_reason_and_the_other_plays(
        stage, django_capture_on_commit_callbacks):
    vera = stage.vera.user
    playthrough = play.playthrough_start(story=stage.story, acting_user=vera)
    first = play.current_scene(playthrough)
    with django_capture_on_commit_callbacks(execute=True):
        consent_services.license_revoke(license=stage.alice_license, reason="no more stories",
                                        acting_user=stage.personas.alice)
    wave = _branch(first, 0)
    assert RenderJob.objects.get(pk=wave.render_job_id).status == RenderJob.Status.CANCELLED  # cancelled at once
    progress = play.scene_progress(wave)
    assert progress.state == "gone" and "revoked" in progress.message
    with pytest.raises(InvalidTransition) as error:
        play.playthrough_choose(playthrough=playthrough, index=0, acting_user=vera)
    assert error.value.code == "branch_refused" and "revoked" in error.value.message
    chosen = play.playthrough_choose(playthrough=playthrough, index=1, acting_user=vera)
    assert chosen.knot == "cliff_path"
    knock = _branch(chosen, 0)  # keeper_door casts the friend: refused at request now
    assert knock.status == PlaythroughScene.Status.REFUSED and knock.refusal_code == str(gate.Reason.REVOKED)


def test_revoking_her_consent_stops_the_playthrough_cancels_her_scenes_and_refuses_a_cut(
        stage, django_capture_on_commit_callbacks):
    vera = stage.vera.user
    playthrough = play.playthrough_start(story=stage.story, acting_user=vera)
    first = play.current_scene(playthrough)
    _render(first)
    with django_capture_on_commit_callbacks(execute=True):
        consent_services.license_revoke(license=stage.consent, reason="stop", acting_user=vera)
    playthrough.refresh_from_db()
    assert playthrough.status == Playthrough.Status.STOPPED
    queued = RenderJob.objects.filter(cast__license_id=stage.consent.id).exclude(pk=first.render_job_id)
    assert queued.exists() and set(queued.values_list("status", flat=True)) == {RenderJob.Status.CANCELLED}
    assert not LikenessModel.objects.filter(license=stage.consent, status="active").exists()
    with pytest.raises(InvalidTransition):
        play.playthrough_choose(playthrough=playthrough, index=1, acting_user=vera)
    with pytest.raises(InvalidTransition):
        play.playthrough_cut_make(playthrough=playthrough, acting_user=vera)
    with pytest.raises(InvalidTransition) as error:
        play.playthrough_start(story=stage.story, acting_user=vera)
    assert error.value.code == "viewer_consent_missing"
    assert LicenseUse.objects.filter(license=stage.consent).count() == 1  # the scene published before


def test_a_playthrough_is_the_viewers_alone(stage):
    playthrough = play.playthrough_start(story=stage.story, acting_user=stage.vera.user)
    for user in (stage.personas.bob, stage.personas.alice):
        with pytest.raises(Http404):
            selectors.playthrough_get_for_viewer(user=user, playthrough_id=playthrough.pk)
    with pytest.raises(ValidationFailed):
        play.playthrough_choose(playthrough=playthrough, index=7, acting_user=stage.vera.user)


def test_the_same_choice_sent_twice_takes_effect_once(stage):
    vera = stage.vera.user
    playthrough = play.playthrough_start(story=stage.story, acting_user=vera)
    first = play.current_scene(playthrough)
    once = play.playthrough_choose(playthrough=playthrough, index=1, after=first.pk, acting_user=vera)
    twice = play.playthrough_choose(playthrough=playthrough, index=1, after=first.pk, acting_user=vera)
    assert once.pk == twice.pk and play.current_scene(playthrough).pk == once.pk
    with pytest.raises(InvalidTransition) as error:  # a choice shown under a scene the story has left
        play.playthrough_choose(playthrough=playthrough, index=0, after=first.pk, acting_user=vera)
    assert error.value.code == "choice_stale"


def test_a_viewer_who_asked_to_approve_each_scene_approves_it_before_it_renders(stage):
    from generation.services.render import render_job_decide

    vera = stage.vera.user
    consent_services.license_revoke(license=stage.consent, reason="a stricter consent", acting_user=vera)
    strict = viewer_consent(stage.vera, stage.story, requires_use_approval=True)
    assert "approve" in strict.text.lower() and strict.requires_use_approval
    job = training_job_request(license_id=str(strict.id), acting_user=vera,
                               params={"steps": 2, "num_class_images": 1, "prior_preservation": False})
    assert training_job_execute(job_id=str(job.id), worker="w1").status == "succeeded"
    playthrough = play.playthrough_start(story=stage.story, acting_user=vera)
    first = play.current_scene(playthrough)
    assert play.scene_progress(first).state == "awaiting_approval"
    assert render_job_execute(job_id=str(first.render_job_id), worker="w1") is None  # nothing to claim yet
    render_job_decide(job=RenderJob.objects.get(pk=first.render_job_id), approve=True, reason="", acting_user=vera)
    _render(first)
    assert play.scene_progress(first).state == "ready"
    assert play.scene_progress(_branch(first, 0)).state == "awaiting_approval"  # rendered ahead once approved


def test_the_studio_can_neither_approve_nor_watch_a_viewers_scene(stage, client):
    from django.urls import reverse

    playthrough = play.playthrough_start(story=stage.story, acting_user=stage.vera.user)
    scene = play.current_scene(playthrough)
    client.force_login(stage.personas.bob)
    for name, method in (("portal-player-approve", client.post), ("portal-player-scene", client.get)):
        assert method(reverse(name, args=[playthrough.pk, scene.pk])).status_code == 404
    assert RenderJob.objects.get(pk=scene.render_job_id).status == RenderJob.Status.QUEUED
