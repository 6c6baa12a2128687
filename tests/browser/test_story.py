"""The whole story through the portal, in Debian's Chromium driven by Playwright, as four people.

Talent Alice signs with MFA, legal Dana countersigns, producer Bob requests a render and
watches its progress bar, Alice approves the use, Bob downloads the clip, the public verify
page shows it trusted with consent in force; Alice revokes, the verify page shows the
consent revoked, and Bob's license page shows renders refused with the reason.
Screenshots of each main screen are saved to BESPOKE_ARTIFACTS_DIR (test-artifacts/).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from bespoke.synthetic_faces import synthetic_face_photos
from tests.accounts.conftest import PASSWORD, totp_code, with_verified_email
from tests.conftest import SMALL_RENDER, make_license

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("BESPOKE_ARTIFACTS_DIR", Path(__file__).resolve().parents[2] / "test-artifacts"))
pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        reason = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("BESPOKE_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"  # Playwright's sync API runs an event loop in this thread
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(browser, live_server, user, secret: str | None):  # type: ignore[no-untyped-def]
    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    if secret:
        page.fill("input[name=code]", totp_code(secret))
        page.click("form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def _run_worker(job_id: str) -> threading.Thread:
    from generation.services.render import render_job_execute

    def work() -> None:
        from django.db import connection

        render_job_execute(job_id=job_id, worker="browser-test")
        connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_the_whole_story_in_a_browser(browser, live_server, personas, tiny_model, settings, tmp_path, monkeypatch):
    from accounts.services import totp_enrol
    from generation.models import RenderJob
    from generation.services import render as renders
    from provenance.services import media_verify

    settings.MEDIA_ROOT = tmp_path / "media"
    for user in (personas.alice, personas.bob, personas.charlie, personas.dana):
        with_verified_email(user)
    alice_secret, dana_secret = totp_enrol(user=personas.alice), totp_enrol(user=personas.dana)
    license = make_license(personas, verified=False, signed=False, countersigned=False, requires_use_approval=True)
    document, capture = tmp_path / "id-card.jpg", tmp_path / "holding-the-code.jpg"
    for path, data in zip((document, capture), synthetic_face_photos(2, seed=7)):
        path.write_bytes(data)
    license_url = f"{live_server.url}/licenses/{license.id}/"

    # slow each denoising step a little so the progress bar can be seen moving
    real_render = renders.render_frames

    def paced(pipe, render_settings, on_step):  # type: ignore[no-untyped-def]
        return real_render(pipe, render_settings, on_step=lambda d, t: (time.sleep(0.15), on_step(d, t)))

    monkeypatch.setattr(renders, "render_frames", paced)

    alice = _sign_in(browser, live_server, personas.alice, alice_secret)
    alice.goto(f"{live_server.url}/verification/")
    alice.select_option("select[name=method]", "document")
    alice.click("button:text-is('Ask for verification')")
    alice.wait_for_selector("#challenge-code")
    for kind, path in (("id_document", document), ("consent_capture", capture)):
        alice.select_option("select[name=kind]", kind)
        alice.set_input_files("input[name=file]", str(path))
        alice.click("button:text-is('Upload')")
        alice.wait_for_selector("text=Uploaded and stored encrypted.")
    _shot(alice, "00-talent-verification-evidence")

    dana = _sign_in(browser, live_server, personas.dana, dana_secret)
    dana.click("a:has-text('Alice Avery')")
    dana.wait_for_selector("text=each viewing is recorded")
    _shot(dana, "00-legal-verification-review")
    dana.click("button:text-is('Approve')")
    dana.wait_for_selector("text=Verification approved.")

    alice.goto(license_url)
    _shot(alice, "01-talent-license-to-sign")
    alice.check("input[name=disclosure_accepted]")
    alice.click("button:text-is('Sign')")
    alice.wait_for_selector("text=Signed. Legal countersigns next.")

    dana.goto(license_url)
    dana.check("input[name=disclosure_accepted]")
    dana.click("button:has-text('Countersign')")
    dana.wait_for_selector("text=Countersigned.")
    _shot(dana, "02-legal-countersigned")

    bob = _sign_in(browser, live_server, personas.bob, None)
    bob.goto(license_url)
    bob.fill("textarea[name=prompt]", "sks person speaking at an election rally")
    bob.click("text=Request render")
    bob.wait_for_selector("text=Refused: The prompt touches the excluded category 'political'")
    assert "Traceback" not in bob.content()
    bob.fill("textarea[name=prompt]", "sks person walking through the night market")
    bob.fill("input[name=num_frames]", str(SMALL_RENDER["num_frames"]))
    bob.fill("input[name=steps]", "24")
    _shot(bob, "03-producer-request-form")
    bob.click("text=Request render")
    bob.wait_for_selector("text=Waiting for the talent's approval")

    alice.goto(f"{live_server.url}/")
    alice.wait_for_selector("text=Uses waiting for your approval")
    _shot(alice, "04-talent-approval")
    alice.click("text=Approve this use")
    alice.wait_for_selector("text=Approved: the render is queued.")

    job = RenderJob.objects.get()
    worker = _run_worker(str(job.id))
    bob.goto(f"{live_server.url}/renders/")
    bob.wait_for_function("document.querySelector('progress') && document.querySelector('progress').value > 0",
                          timeout=30_000)
    _shot(bob, "05-producer-progress")
    bob.wait_for_selector("text=Done", timeout=60_000)
    worker.join(timeout=60)
    with bob.expect_download() as download_info:
        bob.click("text=Download")
    clip = tmp_path / "clip.mp4"
    download_info.value.save_as(clip)
    assert media_verify(path=clip).manifest.is_trusted

    visitor = browser.new_context().new_page()
    visitor.goto(f"{live_server.url}/verify/")
    visitor.set_input_files("input[name=file]", str(clip))
    visitor.click("button:text-is('Check')")
    visitor.wait_for_selector("#result")
    assert visitor.inner_text("#manifest-state") == "trusted"
    assert visitor.inner_text("#consent-state") == "active"
    _shot(visitor, "06-verify-trusted-active")

    alice.goto(license_url)
    alice.click("a:has-text('Revoke this license')")
    alice.wait_for_url("**/revoke/")
    alice.wait_for_selector("role=note")
    assert "does not recall outputs already delivered" in alice.inner_text("[role=note]")
    _shot(alice, "07-talent-revoke-consequences")
    alice.click("button:text-is('Revoke now')")
    alice.wait_for_selector("text=Give a reason for the revocation.")
    alice.fill("textarea[name=reason]", "I no longer consent.")
    alice.click("button:text-is('Revoke now')")
    alice.wait_for_selector("text=Revoked.")

    visitor.goto(f"{live_server.url}/verify/")
    visitor.set_input_files("input[name=file]", str(clip))
    visitor.click("button:text-is('Check')")
    visitor.wait_for_selector("#result")
    assert visitor.inner_text("#consent-state") == "revoked"
    _shot(visitor, "08-verify-revoked")

    charlie = _sign_in(browser, live_server, personas.charlie, None)
    verification = personas.talent.verifications.get()
    for url in (license_url, f"{license_url}revoke/", f"{live_server.url}/verifications/{verification.id}/",
                f"{live_server.url}/renders/{job.id}/download/"):
        assert charlie.goto(url).status == 404, url  # another studio's producer sees none of it
    assert bob.goto(f"{live_server.url}/verifications/{verification.id}/").status == 404

    bob.goto(license_url)
    bob.wait_for_selector("text=Renders under this license are refused: The talent revoked this license.")
    _shot(bob, "09-producer-refused")
    assert "Traceback" not in bob.content() and "Server Error" not in bob.content()
