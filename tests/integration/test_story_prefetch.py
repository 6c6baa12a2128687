"""Interactive stories rendered ahead of the viewer's choice, with real processes: PostgreSQL,
Redis and `celery worker` subprocesses (DESIGN invariants 1 and 3).

Vera (a viewer) stars as the lead of Harbour Lights and Alice plays her friend: every scene is
a render under Vera's own consent and, where the friend is in it, Alice's license. Starting a
playthrough queues the first scene at normal priority and the scenes behind its choices
speculatively; the workers take them off the broker as they would in production.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from consent import services as consent_services
from consent.models import LicenseRevocation, LicenseUse, LikenessLicense
from generation.models import RenderCast, RenderJob, RenderOutput, TrainingJob
from generation.services.render import render_jobs_reap
from generation.services.training import training_job_execute, training_job_request
from stories import play
from stories.models import Playthrough, PlaythroughScene
from tests.conftest import make_license
from tests.viewers import make_viewer, pass_face_check, published_story, viewer_consent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: Scenes long enough to catch one running in a worker (the gate is asked every 2 steps there).
LONG_SCENES = {"width": 128, "height": 128, "steps": 16, "fps": 4}
#: Scenes asked for once the part under test is over, so the workers soon fall idle.
SHORT_SCENES = {"width": 128, "height": 128, "steps": 2, "fps": 4}


def _wait(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {_jobs()}"
        time.sleep(0.1)


def _jobs() -> list[tuple[str, str, int, int]]:
    return [(str(job.id)[:8], job.status, job.attempt, job.progress_step)
            for job in RenderJob.objects.order_by("created_at")]


def _job(scene: PlaythroughScene) -> RenderJob:
    scene.refresh_from_db()
    return RenderJob.objects.get(pk=scene.render_job_id)


def _branch(parent: PlaythroughScene, index: int | None) -> PlaythroughScene:
    return PlaythroughScene.objects.get(parent=parent, choice_index=index)


def _running(scene: PlaythroughScene, *, step: int = 2) -> RenderJob | None:
    job = _job(scene)
    return job if job.status == RenderJob.Status.RUNNING and job.progress_step >= step else None


def _idle() -> bool:
    return not RenderJob.objects.exclude(status__in=RenderJob.TERMINAL).exists()


def _worker_running(job: RenderJob, workers):  # type: ignore[no-untyped-def]
    """The worker whose pool process holds the job (a pool child runs in its worker's process group)."""
    pid = int(job.worker.rsplit(":", 1)[1])
    group = os.getpgid(pid)
    return next(worker for worker in workers if worker.process.pid == group)


@pytest.fixture
def stage(personas, django_user_model, start_worker, settings):  # type: ignore[no-untyped-def]
    """Two workers booting while Harbour Lights is published, Vera's face checked, her consent
    signed and her likeness model trained (here, or by a worker that took the job first)."""
    settings.BESPOKE_STORY_SCENE_PARAMS = LONG_SCENES
    workers = [start_worker(name, wait=False) for name in ("one", "two")]
    alice_license = make_license(personas, interactive=True, max_renders=50)
    story = published_story(personas, alice_license)
    vera = make_viewer(django_user_model)
    pass_face_check(vera)
    consent = viewer_consent(vera, story)
    training = training_job_request(license_id=str(consent.id), acting_user=vera.user,
                                    params={"steps": 1, "num_class_images": 1, "prior_preservation": False})
    training_job_execute(job_id=str(training.id), worker="setup")
    _wait(lambda: TrainingJob.objects.filter(pk=training.pk, status__in=TrainingJob.TERMINAL).exists(), 180,
          "the likeness model")
    training.refresh_from_db()
    assert training.status == TrainingJob.Status.SUCCEEDED, training.outcome_message
    for worker in workers:
        worker.wait_ready()
    return type("Stage", (), {"story": story, "vera": vera.user, "consent": consent, "alice_license": alice_license,
                              "alice": personas.alice, "workers": workers})


def _outputs_casting(license: LikenessLicense) -> list[RenderOutput]:
    return list(RenderOutput.objects.filter(job__cast__license_id=license.pk).distinct())


def _nothing_published_after(revocation: LicenseRevocation) -> None:
    """Every output with the license in its cast was published before the revocation took the
    license's lock, and the revocation lists exactly those (as the uses the gate recorded do)."""
    outputs = _outputs_casting(revocation.license)
    late = [(str(o.pk), o.created_at) for o in outputs if o.created_at >= revocation.revoked_at]
    assert not late, f"published after the revocation at {revocation.revoked_at}: {late}"
    uses = set(LicenseUse.objects.filter(license=revocation.license).values_list("output_ref", flat=True))
    assert {str(o.pk) for o in outputs} == set(revocation.published_outputs) == uses


def test_a_worker_killed_during_a_prefetch_loses_nothing_the_viewer_chose(stage, settings):
    one, two = stage.workers
    playthrough = play.playthrough_start(story=stage.story, acting_user=stage.vera)
    first = play.current_scene(playthrough)
    wave, alone = _branch(first, 0), _branch(first, 1)
    assert (wave.status, alone.status) == ("prefetched", "prefetched")
    assert _job(wave).speculative and _job(alone).speculative and not _job(first).speculative

    # One worker takes the first scene (normal priority), the other a scene rendered ahead.
    ahead = _wait(lambda: next((s for s in (wave, alone) if _running(s)), None), 120, "a prefetched scene to run")
    job = _job(ahead)
    assert job.attempt == 1 and job.progress_step < job.progress_total
    victim = _worker_running(job, [one, two])
    victim.kill()  # SIGKILL to the worker and its pool child, mid-render
    survivor = two if victim is one else one
    job.refresh_from_db()
    assert job.status == RenderJob.Status.RUNNING and job.attempt == 1, "nobody noticed yet"

    settings.BESPOKE_STORY_SCENE_PARAMS = SHORT_SCENES  # the scenes prefetched from here on
    chosen = play.playthrough_choose(playthrough=playthrough, index=ahead.choice_index, acting_user=stage.vera)
    assert chosen.pk == ahead.pk and chosen.status == PlaythroughScene.Status.CHOSEN
    job.refresh_from_db()
    assert not job.speculative, "chosen: normal priority from now on"
    other = alone if ahead.pk == wave.pk else wave
    assert _job(other).status in (RenderJob.Status.CANCELLED, RenderJob.Status.RUNNING)  # discarded
    assert play.scene_progress(chosen).state == "rendering"

    while timezone.now() <= job.lease_expires_at:  # the killed worker renews it no more
        time.sleep(0.2)
    render_jobs_reap()
    job.refresh_from_db()
    assert job.status in (RenderJob.Status.QUEUED, RenderJob.Status.RUNNING, RenderJob.Status.SUCCEEDED)
    assert AuditEvent.objects.filter(action="render.requeued", subject=job.audit_subject).count() == 1

    job = _wait(lambda: (j := _job(chosen)).status in RenderJob.TERMINAL and j, 150, "the chosen scene")
    assert job.status == RenderJob.Status.SUCCEEDED, job.outcome_message
    assert job.attempt == 2 and survivor.process.poll() is None
    output = RenderOutput.objects.get(job=job)
    cast = set(RenderCast.objects.filter(job=job).values_list("license_id", flat=True))
    assert len(cast) == len(chosen.cast) >= 1
    for license_id in cast:
        assert list(LicenseUse.objects.filter(license_id=license_id, job_ref=str(job.id))
                    .values_list("output_ref", flat=True)) == [str(output.pk)]
    actions = list(AuditEvent.objects.filter(subject=job.audit_subject).order_by("seq")
                   .values_list("action", flat=True))
    assert actions == ["render.requested", "render.claimed", "render.prioritised", "render.requeued",
                       "render.claimed", "render.published"]
    progress = play.scene_progress(chosen)
    assert (progress.state, progress.output_id) == ("ready", str(output.pk))

    _wait(_idle, 120, "the workers to fall idle")
    assert play.scene_progress(first).state == "ready", "the first scene, also chosen, was published too"
    assert RenderOutput.objects.filter(job=_job(first)).count() == 1
    assert _job(other).status == RenderJob.Status.CANCELLED and play.scene_progress(other).state == "gone"
    assert audit_chain_verify().ok


def test_revocations_during_prefetch_leave_no_scene_published_after_them(stage):
    one, two = stage.workers
    playthrough = play.playthrough_start(story=stage.story, acting_user=stage.vera)
    first = play.current_scene(playthrough)
    wave = _branch(first, 0)  # the pier, with Alice as the friend
    assert set(RenderCast.objects.filter(job_id=wave.render_job_id).values_list("license_id", flat=True)) == {
        stage.consent.pk, stage.alice_license.pk}
    _wait(lambda: _running(wave), 120, "the pier scene to run ahead")
    second = play.playthrough_start(story=stage.story, acting_user=stage.vera)  # its scenes wait in the queue
    queued_wave = _branch(play.current_scene(second), 0)
    assert _job(queued_wave).status == RenderJob.Status.QUEUED

    # Alice revokes while one scene with her runs and another waits.
    alice_revocation = consent_services.license_revoke(license=stage.alice_license, reason="no more stories",
                                                       acting_user=stage.alice)
    assert (_job(queued_wave).status, _job(queued_wave).outcome_code) == (RenderJob.Status.CANCELLED,
                                                                           "license_revoked")
    running = _wait(lambda: (j := _job(wave)).status in RenderJob.TERMINAL and j, 60, "the pier scene to stop")
    assert (running.status, running.outcome_code) == (RenderJob.Status.CANCELLED, "license_revoked")
    assert running.progress_step < running.progress_total
    for branch in (wave, queued_wave):
        progress = play.scene_progress(branch)
        assert progress.state == "gone" and "revoked" in progress.message

    # Then Vera revokes her own consent while a scene with her runs and more wait.
    _wait(lambda: RenderJob.objects.filter(status=RenderJob.Status.RUNNING, progress_step__gte=1).exists(), 120,
          "a scene with Vera to run")
    assert RenderJob.objects.filter(status=RenderJob.Status.QUEUED).exists(), "scenes still wait in the queue"
    vera_revocation = consent_services.license_revoke(license=stage.consent, reason="stop", acting_user=stage.vera)
    for each in (playthrough, second):
        each.refresh_from_db()
        assert each.status == Playthrough.Status.STOPPED
    assert not RenderJob.objects.filter(status=RenderJob.Status.QUEUED).exists(), "every waiting scene is cancelled"

    _wait(_idle, 90, "the workers to fall idle")
    assert one.process.poll() is None and two.process.poll() is None
    for revocation in (alice_revocation, vera_revocation):
        revocation.refresh_from_db()
        _nothing_published_after(revocation)
    assert not RenderOutput.objects.filter(job__cast__license_id=stage.alice_license.pk).exists()
    # A running scene is refused at its next check: the consent is revoked, or (read a moment
    # later within that check) the likeness model the revocation retired is gone.
    refused = {"license_revoked", "likeness_model_unavailable"}
    for job in RenderJob.objects.exclude(status=RenderJob.Status.SUCCEEDED):
        assert job.status == RenderJob.Status.CANCELLED and job.outcome_code in refused, _jobs()
    for scene in PlaythroughScene.objects.filter(playthrough__in=(playthrough, second)):
        expected = "ready" if _job(scene).status == RenderJob.Status.SUCCEEDED else "gone"
        assert play.scene_progress(scene).state == expected
    assert audit_chain_verify().ok
