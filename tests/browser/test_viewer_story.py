"""A viewer stars in a story, in Debian's Chromium driven by Playwright.

Vera, a new viewer (Eileen Collins' face), signs up with her name, date of birth and the
tick-box, follows the emailed confirmation link and lands on her home, where Harbour Lights
is listed under "Star in a story". On its star page she uploads four photos of herself; a
capture of someone else (Grace Hopper) is refused with the reason next to the field, a
capture of herself is accepted; she signs her consent (the portal asks for her password
again first), starts her likeness model's training and plays. In the player each scene
appears only once it is published; she chooses, and while she watches the second scene
Alice revokes the license behind the friend, so the branch that casts her is gone with the
reason and its button disabled; Vera takes the other branch to an ending, assembles her
cut and downloads it, and the public verify page lists its scenes as ingredients with her
consent active. She revokes her consent from the player: the player says so, the verify
page shows it revoked, and a new playthrough is refused with the reason. Jobs run in
threads, as a worker would. Screenshots go to BESPOKE_ARTIFACTS_DIR (test-artifacts/).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest

from tests.browser.test_story import SERVER_ERRORS, _new_page, _run_worker, _shot, browser  # noqa: F401 (a fixture)
from tests.viewers import ASTRONAUT, HOPPER, VIEWER_BIRTH_DATE, jpeg

pytestmark = [pytest.mark.django_db(transaction=True)]

SCENE_PARAMS = {"width": 128, "height": 128, "steps": 2, "fps": 4}
TRAINING_PARAMS = {"steps": 4, "num_class_images": 1, "prior_preservation": False}
VERA_PASSWORD = "quiet-harbour-lantern-42"
SCENE_TIMEOUT = 180_000  # ms: a render on a busy CI runner


def _in_a_thread(work: Callable[[], object]) -> threading.Thread:
    """Run a job as a worker would: in its own thread, with its own database connection."""

    def run() -> None:
        from django.db import connection

        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _render_scene(playthrough, knot: str) -> None:  # type: ignore[no-untyped-def]
    """A worker renders the chosen scene ``knot`` of the playthrough (its job was queued by the page)."""
    from generation.models import RenderJob
    from stories.models import PlaythroughScene

    scene = PlaythroughScene.objects.get(playthrough=playthrough, knot=knot, status=PlaythroughScene.Status.CHOSEN)
    assert scene.render_job_id, f"{knot}: a render was requested"
    _run_worker(str(scene.render_job_id)).join(timeout=SCENE_TIMEOUT / 1000)
    job = RenderJob.objects.get(pk=scene.render_job_id)
    assert job.status == RenderJob.Status.SUCCEEDED, (knot, job.status, job.outcome_message)


def _watch_to_the_end(page) -> None:  # type: ignore[no-untyped-def]
    """Watch every scene of the player to its end (muted), so a screenshot shows their last frames."""
    page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState === 4)")
    page.evaluate("""Promise.all([...document.querySelectorAll('video')].map(v => v.ended ? null : new Promise(done => {
        v.muted = true; v.addEventListener('ended', done, {once: true}); v.play(); })))""")


def _upload(page, field: str, path, button: str) -> None:  # type: ignore[no-untyped-def]
    page.set_input_files(f"input[name={field}]", str(path))
    page.click(f"button:text-is('{button}')")
    page.wait_for_load_state()


def test_a_viewer_signs_up_stars_in_a_story_plays_it_keeps_her_cut_and_revokes(
        browser, live_server, personas, tiny_model, settings, tmp_path, monkeypatch):  # noqa: F811
    from django.core import mail

    from consent import services as consent_services
    from consent.models import LikenessLicense
    from generation.models import TrainingJob
    from generation.services import training
    from generation.services.training import training_job_execute
    from stories.models import Playthrough
    from tests.conftest import make_license
    from tests.viewers import published_story

    settings.BESPOKE_STORY_SCENE_PARAMS = SCENE_PARAMS
    settings.BESPOKE_PUBLIC_URL = live_server.url
    # The likeness model trains for a few steps only: the button asks with the defaults.
    real_parse = training.training_params_parse
    monkeypatch.setattr(training, "training_params_parse", lambda raw: real_parse({**TRAINING_PARAMS, **(raw or {})}))
    SERVER_ERRORS.clear()
    alice_license = make_license(personas, interactive=True, max_renders=50)
    story = published_story(personas, alice_license)  # Harbour Lights: the viewer is the lead, Alice the friend
    url = live_server.url
    photos = []
    for index, data in enumerate((jpeg(ASTRONAUT), jpeg(ASTRONAUT, mirror=True, quality=75),
                                  jpeg(ASTRONAUT, scale=0.9), jpeg(ASTRONAUT, mirror=True, scale=0.8))):
        photos.append(tmp_path / f"me-{index}.jpg")
        photos[-1].write_bytes(data)
    someone_else, herself = tmp_path / "capture-hopper.jpg", tmp_path / "capture-me.jpg"
    someone_else.write_bytes(jpeg(HOPPER))
    herself.write_bytes(jpeg(ASTRONAUT, scale=0.8, quality=70))

    # Vera signs up as a viewer and confirms her address from the email.
    vera = _new_page(browser)
    vera.goto(f"{url}/accounts/login/")
    vera.click("a[href='/accounts/signup/']")
    vera.wait_for_selector("h1:text-is('Sign up to star in stories')")
    vera.fill("input[name=email]", "vera@example.org")
    vera.fill("input[name=username]", "vera")
    vera.fill("input[name=password1]", VERA_PASSWORD)
    vera.fill("input[name=password2]", VERA_PASSWORD)
    vera.fill("input[name=display_name]", "Vera Vance")
    vera.fill("input[name=birth_date]", VIEWER_BIRTH_DATE.isoformat())
    vera.check("input[name=stars_self]")
    _shot(vera, "22a-viewer-signs-up")
    vera.click("button:text-is('Sign up')")
    vera.wait_for_url("**/accounts/confirm-email/")
    assert [message.to for message in mail.outbox] == [["vera@example.org"]]
    link = re.search(r"https?://\S+/accounts/confirm-email/[^/\s]+/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    vera.goto(link.group(0))
    vera.click("button:text-is('Confirm')")
    vera.wait_for_url(f"{url}/")
    vera.wait_for_selector("h2:text-is('Star in a story')")
    assert "Northlight Studios" in vera.inner_text("main")
    vera.click("a:text-is('Star in “Harbour Lights”')")
    vera.wait_for_selector("h1:text-is('Star in “Harbour Lights”')")
    star_url = vera.url
    assert star_url == f"{url}/stories/{story.id}/star/"

    # Her photos, then her capture: someone else's face is refused, next to the field, with the reason.
    assert vera.locator("#challenge-code").count() == 0  # the capture comes after the photos
    for count, photo in enumerate(photos, start=1):
        _upload(vera, "photo", photo, "Upload photo")
        vera.wait_for_selector("text=Photo added.")
        assert (f"✓ {count} held" if count == len(photos) else f"{count} of {len(photos)} held") in \
            vera.inner_text("#step-photos h2")
    code = vera.inner_text("#challenge-code")
    assert re.fullmatch(r"[A-Z0-9]{4,}", code), code
    _upload(vera, "capture", someone_else, "Check my capture")
    refusal = vera.inner_text("#step-capture .errorlist")
    assert "do not show the same person" in refusal
    assert vera.inner_text("#challenge-code") == code  # the same challenge, to try again
    assert vera.locator("#step-consent form").count() == 0
    _upload(vera, "capture", herself, "Check my capture")
    vera.wait_for_selector("text=Your capture and your photos show the same person.")
    assert "✓ same person as your photos" in vera.inner_text("#step-capture h2")

    # She signs her consent: the portal asks for her password again, then she signs.
    assert 'the interactive story "Harbour Lights"' in vera.inner_text("#consent-text")
    vera.check("input[name=disclosure_accepted]")
    _shot(vera, "22-viewer-star")
    vera.click("button:text-is('Sign my consent')")
    vera.wait_for_url("**/accounts/reauthenticate/**")
    vera.fill("input[name=password]", VERA_PASSWORD)
    vera.click("button:text-is('Confirm')")
    vera.wait_for_url(star_url)  # back to the form as she left it, to sign now that it is her
    assert vera.is_checked("input[name=disclosure_accepted]")
    vera.uncheck("input[name=disclosure_accepted]")
    vera.click("button:text-is('Sign my consent')")
    vera.wait_for_selector("text=Accept the electronic-records disclosure to sign.")
    vera.check("input[name=disclosure_accepted]")
    vera.click("button:text-is('Sign my consent')")
    vera.wait_for_selector("text=Signed. You can revoke your consent at any moment, from the player too.")
    consent = LikenessLicense.objects.get(talent__user__username="vera")
    assert "✓ signed" in vera.inner_text("#step-consent h2")

    # Her likeness model is trained (a worker runs the job the button queued), then she plays.
    assert vera.locator("#step-play button").count() == 0
    vera.click("button:text-is('Train my likeness model')")
    vera.wait_for_selector("#training-status")
    job = TrainingJob.objects.get(license_id=consent.id)
    _in_a_thread(lambda: training_job_execute(job_id=str(job.id), worker="browser-test")).join(timeout=300)
    job.refresh_from_db()
    assert job.status == TrainingJob.Status.SUCCEEDED, job.outcome_message
    vera.reload()
    vera.wait_for_selector("#step-model h2:has-text('✓ trained')")
    vera.click("button:text-is('Play “Harbour Lights”')")
    vera.wait_for_url("**/play/*/")
    playthrough = Playthrough.objects.get(viewer__username="vera")
    player_url = vera.url

    # Each scene appears only once it is published; the page follows the worker by itself.
    assert vera.locator("#scene-0 video").count() == 0
    assert vera.locator("#scene-0 progress").count() == 1
    _render_scene(playthrough, "harbour_dawn")
    vera.wait_for_selector("#scene-0 video", timeout=SCENE_TIMEOUT)
    assert "The sun rises over the harbour." in vera.inner_text("#scene-0")
    vera.click("button:text-is('Walk to the lighthouse alone')")
    vera.wait_for_selector("#scene-1")
    assert vera.locator("#scene-1 video").count() == 0
    _render_scene(playthrough, "cliff_path")
    vera.wait_for_selector("#scene-1 video", timeout=SCENE_TIMEOUT)
    assert "you chose “Walk to the lighthouse alone”" in vera.inner_text("#scene-1 h2")

    # Alice revokes the license behind the friend: the branch that casts her is gone, with the reason.
    consent_services.license_revoke(license=alice_license, reason="No more stories for me.",
                                    acting_user=personas.alice)
    gone = vera.locator("#choices .choice-gone")
    gone.wait_for(timeout=30_000)  # the page polls and reloads by itself
    assert vera.locator("#choices button:text-is('Knock on the door')").is_disabled()
    assert "Gone:" in gone.inner_text() and "revoked" in gone.inner_text().lower()
    _watch_to_the_end(vera)
    _shot(vera, "23-viewer-player")

    # She takes the other branch to an ending.
    for label, knot, position in (("Climb in through the window", "window_climb", 2), ("Continue", "lamp_room", 3),
                                  ("Leave it dark", "ending_dark", 4)):
        vera.click(f"#choices button:text-is('{label}')")
        vera.wait_for_selector(f"#scene-{position}")
        _render_scene(playthrough, knot)
        vera.wait_for_selector(f"#scene-{position} video", timeout=SCENE_TIMEOUT)
    assert "Darkness falls over the harbour." in vera.inner_text("#scene-4")
    assert vera.locator("#choices").count() == 0

    # Her cut: assembled, downloaded, and checked on the public verify page.
    vera.click("button:text-is('Assemble my cut')")
    vera.wait_for_selector("text=Your cut is ready: one signed file, each scene's own manifest inside.")
    with vera.expect_download() as download_info:
        vera.click("a:text-is('Download the signed cut')")
    cut = tmp_path / "harbour-lights.mp4"
    download_info.value.save_as(cut)

    visitor = _new_page(browser)

    def verify(expected: str) -> list[str]:
        visitor.goto(f"{url}/verify/")
        visitor.set_input_files("input[name=file]", str(cut))
        visitor.click("button:text-is('Check')")
        visitor.wait_for_selector("#result")
        assert visitor.inner_text("#manifest-state") == "trusted"
        assert visitor.locator("h3:text-is('Made from')").count() == 1
        scenes = visitor.locator("#ingredients > li").all_inner_texts()
        assert len(scenes) == 5 and all(f"Consent today: {expected}" in scene for scene in scenes), scenes
        return scenes

    scenes = verify("active")
    for choice in ("Walk to the lighthouse alone", "Climb in through the window", "Leave it dark"):
        assert any(f"after the choice “{choice}”" in scene for scene in scenes), (choice, scenes)
    _shot(visitor, "24-verify-cut-ingredients")

    # She revokes from the player; a new playthrough is refused (from the star page, still open in a tab).
    star = vera.context.new_page()
    star.goto(star_url)
    vera.bring_to_front()
    vera.click("button:text-is('Revoke my consent')")
    vera.wait_for_url(player_url)
    vera.wait_for_selector("text=Your consent is revoked")
    assert "revoked" in vera.inner_text("#player-status").lower()
    assert vera.inner_text("#consent").endswith("Revoked.")
    assert vera.locator("button:text-is('Revoke my consent')").count() == 0
    _watch_to_the_end(vera)
    _shot(vera, "25-viewer-revoked-from-player")
    consent.refresh_from_db()
    assert consent.status == LikenessLicense.Status.REVOKED
    verify("revoked")

    star.bring_to_front()
    star.click("button:text-is('Play “Harbour Lights”')")
    star.wait_for_url(star_url)
    star.wait_for_selector("text=Consent to star in this story first (or again: your consent ended).")
    assert Playthrough.objects.filter(viewer__username="vera").count() == 1
    assert star.locator("#step-play button").count() == 0 and star.locator("#step-consent form").count() == 1
    assert "Traceback" not in star.content()
    assert SERVER_ERRORS == [], "no page may answer with a server error"
