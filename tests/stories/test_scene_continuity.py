"""Scene continuity in a story: Vera (a viewer) stars as the lead of The Night Ferry, a story that
asks for continuity, and Alice plays her friend. A scene continues from the last frame of the scene
Vera watched just before it when that scene is published and every license in it is in the new
scene's cast; the earlier scene is then an ingredient that `verify_media --json` lists. Scenes run
here, synchronously, through the service a worker runs, on the tiny Wan build (image-to-video)."""

from __future__ import annotations

import json
import uuid
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from core.errors import ValidationFailed
from generation.models import RenderJob, RenderOutput
from generation.services.render import render_job_execute
from generation.services.scenes import CastMember, scene_render_request
from generation.services.training import training_job_execute, training_job_request
from stories import ink, play, services
from stories.models import Playthrough, PlaythroughScene, StoryRole
from tests.conftest import make_license
from tests.stories import story_file
from tests.viewers import make_viewer, pass_face_check, viewer_consent

pytestmark = pytest.mark.django_db

SCENE_PARAMS = {"width": 128, "height": 128, "steps": 2, "fps": 4}


@pytest.fixture
def stage(personas, django_user_model, tiny_wan, settings):  # type: ignore[no-untyped-def]
    """The Night Ferry published by Bob, Vera's consent signed and her likeness model trained on Wan."""
    settings.BESPOKE_STORY_SCENE_PARAMS = SCENE_PARAMS
    alice_license = make_license(personas, interactive=True, max_renders=50)
    story = services.story_create(organization=personas.studio, title="", acting_user=personas.bob,
                                  compiled_json=story_file("ferry.json").read_text(encoding="utf-8"),
                                  ink_source=story_file("ferry.ink").read_text(encoding="utf-8"))
    services.story_role_cast(role=StoryRole.objects.get(story=story, name="lead"), viewer=True,
                             acting_user=personas.bob)
    services.story_role_cast(role=StoryRole.objects.get(story=story, name="friend"), license=alice_license,
                             acting_user=personas.bob)
    story = services.story_publish(story=story, acting_user=personas.bob)
    vera = make_viewer(django_user_model)
    pass_face_check(vera)
    consent = viewer_consent(vera, story)
    job = training_job_request(license_id=str(consent.id), acting_user=vera.user,
                               params={"steps": 2, "num_class_images": 1, "prior_preservation": False})
    assert training_job_execute(job_id=str(job.id), worker="w1").status == "succeeded"
    return type("Stage", (), {"story": story, "vera": vera.user, "consent": consent, "alice_license": alice_license,
                              "personas": personas})


def _render(scene: PlaythroughScene) -> RenderOutput:
    scene.refresh_from_db()
    job = render_job_execute(job_id=str(scene.render_job_id), worker="w1")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    return job.output


def _branch(current: PlaythroughScene, index: int | None) -> PlaythroughScene:
    return PlaythroughScene.objects.get(parent=current, choice_index=index)


def _requested(job_id: object) -> dict:
    subject = RenderJob.objects.get(pk=job_id).audit_subject
    event = AuditEvent.objects.filter(action="render.requested", subject=subject).get()
    return json.loads(event.body)["data"]


def _verify_json(output: RenderOutput) -> dict:
    out = StringIO()
    call_command("verify_media", default_storage.path(output.file.name), "--json", stdout=out)
    return json.loads(out.getvalue())


def test_boarding_together_continues_from_the_quay_and_the_deck_lists_the_quay_as_its_ingredient(stage):
    vera = stage.vera
    playthrough = play.playthrough_start(story=stage.story, acting_user=vera)
    quay = play.current_scene(playthrough)
    deck, shore = _branch(quay, 0), _branch(quay, 1)
    # Neither branch can continue from a quay not rendered yet: they wait instead of rendering ahead.
    assert (deck.render_job_id, shore.render_job_id) == (None, None)
    assert [play.scene_progress(b).state for b in (deck, shore)] == ["waiting", "waiting"]
    assert "last frame" in play.scene_progress(deck).message
    quay_output = _render(quay)

    chosen = play.playthrough_choose(playthrough=playthrough, index=0, acting_user=vera, after=quay.pk)
    assert chosen.pk == deck.pk
    job = RenderJob.objects.get(pk=chosen.render_job_id)
    assert job.params["continue_from"] == str(quay_output.id) and not job.speculative
    assert _requested(job.pk)["params"]["continue_from"] == str(quay_output.id)
    deck_output = _render(chosen)

    report = _verify_json(deck_output)
    assert report["manifest"]["state"] == "trusted"
    [ingredient] = report["ingredients"]
    assert (ingredient["relationship"], ingredient["state"]) == ("inputTo", "trusted")
    assert (ingredient["output_id"], ingredient["manifest_label"]) == (str(quay_output.id), quay_output.manifest_label)
    # The quay's frame shows both likenesses: both consents behind it are listed, in force.
    assert [status["state"] for status in ingredient["consent_status"]] == ["active", "active"]
    assert deck_output.compliance["continues"]["output_id"] == str(quay_output.id)
    published = json.loads(AuditEvent.objects.filter(action="render.published", subject=job.audit_subject).get().body)
    assert published["data"]["continues"] == str(quay_output.id)

    playthrough.refresh_from_db()
    assert playthrough.status == Playthrough.Status.ENDED
    cut = play.playthrough_cut_make(playthrough=playthrough, acting_user=vera)
    assert cut.scene_outputs == [str(quay_output.id), str(deck_output.id)]

    # Refused before anything is written: a scene whose cast leaves out the friend the quay shows,
    # another story's scene, and a scene of Vera's asked for by someone else.
    vera_alone = [CastMember(role="lead", license_id=str(stage.consent.id))]
    both = [*vera_alone, CastMember(role="friend", license_id=str(stage.alice_license.id))]
    events, jobs = AuditEvent.objects.count(), RenderJob.objects.count()
    for cast, story_id, user, message in (
            (vera_alone, stage.story.pk, vera, "shows friend under a license this scene is not made under"),
            (both, uuid.uuid4(), vera, "no published scene of this story, requested by you"),
            (both, stage.story.pk, stage.personas.bob, "no published scene of this story, requested by you")):
        with pytest.raises(ValidationFailed) as refusal:
            scene_render_request(cast=cast, prompt="the ferry in open water", story_id=str(story_id),
                                 params=SCENE_PARAMS, continue_from=str(deck_output.id), acting_user=user)
        assert refusal.value.field == "continue_from" and message in refusal.value.message
    assert (AuditEvent.objects.count(), RenderJob.objects.count()) == (events, jobs)
    assert audit_chain_verify().ok


def test_a_scene_without_the_friend_starts_afresh_and_says_why_and_a_scene_may_turn_continuity_off(stage):
    vera = stage.vera
    playthrough = play.playthrough_start(story=stage.story, acting_user=vera)
    quay = play.current_scene(playthrough)
    _render(quay)

    shore = play.playthrough_choose(playthrough=playthrough, index=1, acting_user=vera)
    job = RenderJob.objects.get(pk=shore.render_job_id)
    # The quay shows Alice, whom the shore does not cast: her likeness is not carried into it.
    assert "continue_from" not in job.params
    assert "shows friend, not cast in this one" in _requested(job.pk)["not_continued"]
    # The lane turns continuity off: rendered ahead at once, from its prompt, with nothing to explain.
    lane = _branch(shore, 0)
    lane_job = RenderJob.objects.get(pk=lane.render_job_id)
    assert lane_job.speculative and "continue_from" not in lane_job.params
    assert "not_continued" not in _requested(lane_job.pk)
    assert _verify_json(_render(shore))["ingredients"] == []


def test_a_scene_chosen_before_the_one_before_it_is_published_renders_from_its_prompt_and_says_so(stage):
    vera = stage.vera
    playthrough = play.playthrough_start(story=stage.story, acting_user=vera)
    quay = play.current_scene(playthrough)
    deck = play.playthrough_choose(playthrough=playthrough, index=0, acting_user=vera)  # the quay still queued
    job = RenderJob.objects.get(pk=deck.render_job_id)
    assert "continue_from" not in job.params
    assert _requested(job.pk)["not_continued"] == "The scene before it was not published when this one was requested."
    assert RenderJob.objects.get(pk=quay.render_job_id).status == RenderJob.Status.QUEUED


def test_the_story_and_each_scene_say_whether_they_continue_and_a_bad_value_names_its_line():
    outline = ink.story_outline(story_file("ferry.json").read_text(encoding="utf-8"),
                                source=story_file("ferry.ink").read_text(encoding="utf-8"))
    assert outline.ok
    assert {knot: scene.continues for knot, scene in outline.scenes.items()} == {
        "quay": True, "deck": True, "shore": True, "lane": False}
    harbour = ink.story_outline(story_file("harbour.json").read_text(encoding="utf-8"))
    assert not any(scene.continues for scene in harbour.scenes.values())  # off unless asked for

    compiled = story_file("ferry.json").read_text(encoding="utf-8").replace("^continuity: off", "^continuity: later")
    source = story_file("ferry.ink").read_text(encoding="utf-8").replace("# continuity: off", "# continuity: later")
    [problem] = ink.story_outline(compiled, source=source).problems
    assert problem.line == source.splitlines().index("# continuity: later") + 1
    assert problem.message == "scene 'lane': continuity 'later' is neither on nor off"
    compiled = compiled.replace("^continuity: on", "^continuity: always")
    assert "the story's continuity 'always' is neither on nor off" in [
        problem.message for problem in ink.story_outline(compiled).problems]
