"""The whole story through the portal, in Debian's Chromium driven by Playwright.

Legal Dana invites a new talent, Maya, who creates her account from the link and enrols an
authenticator app; Maya uploads identity evidence and the verification desk approves it:
verifier Frank records her legal name and date of birth, verifier Grace confirms (each with
their own authenticator app; Frank cannot confirm his own approval); Dana drafts a license
from a template, on a page with no field for the talent's capacity or a representative, and
offers it; Maya signs with MFA and Dana countersigns; producer Bob
requests a render and watches its progress bar; Maya approves the use; Bob downloads the
clip; the public verify page shows it trusted with consent in force, and traces a copy whose
manifest was stripped; Maya sees the render on her likeness page and revokes; the verify
page shows the consent revoked; Bob's next request is refused with the reason. Then a
guardian, Ife, asks to represent Noor, a talent the desk verified as a minor, and uploads
her evidence; Frank and Grace approve the guardianship; Dana drafts Noor's license, whose
page says the verified guardian signs; Ife signs it, and Noor, on her own account, sees that
she can revoke it. Another studio's producer gets 404 on every object page of the story,
legal staff on every desk page (studios never see identity evidence), and the producer
and the talent on every page outside their role. Screenshots of each main screen are saved to
BESPOKE_ARTIFACTS_DIR (test-artifacts/).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest

from bespoke.synthetic_faces import synthetic_face_photos
from tests.consent.evidence import AUTHORITY_PDF
from tests.accounts.conftest import PASSWORD, totp_code, with_verified_email
from tests.browser.a11y import check_screen

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
    from django.db import connections
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"  # Playwright's sync API runs an event loop in this thread
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()
        # Inside that loop Django sees another context with its own connections: close them once
        # the test's flush is done, or the test database cannot be dropped at the end of the run.
        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


UNLABELLED_CONTROLS = """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
    .map(e => e.name || e.id || e.outerHTML.slice(0, 80))"""


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Save a screenshot of a main screen, after checking what every screen owes its users:
    one main heading, a label for every control, no WCAG 2.1 A/AA violation, a visible
    keyboard focus, and a fit at 1280 px and 390 px without scrolling sideways."""
    assert page.locator("h1").count() == 1, f"{name}: one h1"
    assert page.evaluate(UNLABELLED_CONTROLS) == [], f"{name}: controls without a label"
    check_screen(page, name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


SERVER_ERRORS: list[str] = []


def _new_page(browser):  # type: ignore[no-untyped-def]
    """A page in its own browser context (its own cookies), recording any server error it meets."""
    context = browser.new_context(accept_downloads=True)
    context.on("response", lambda response: response.status >= 500 and SERVER_ERRORS.append(
        f"{response.status} {response.request.method} {response.url}"))
    return context.new_page()


USED_CODES: dict[str, str] = {}


def _code(username: str, secret: str) -> str:
    """A code this user has not used yet (an authenticator code works once)."""
    code = _fresh_code(secret, used=USED_CODES.get(username, ""))
    USED_CODES[username] = code
    return code


def _sign_in(browser, live_server, user, secret: str | None):  # type: ignore[no-untyped-def]
    page = _new_page(browser)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    if secret:
        page.fill("input[name=code]", _code(user.username, secret))
        page.click("form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def _submit_confirmed(page, button: str, username: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Click a button whose action needs a fresh second factor; if the portal asks for it
    (the sign-in was too long ago), give a new code and submit again from the same form."""
    form_url = page.url
    page.click(button)
    page.wait_for_load_state()
    if "/reauthenticate/" in page.url:
        page.fill("input[name=code]", _code(username, secret))
        page.click("button:text-is('Confirm')")
        page.wait_for_url(form_url)
        page.click(button)
        page.wait_for_load_state()


def _run_worker(job_id: str) -> threading.Thread:
    from generation.services.render import render_job_execute

    def work() -> None:
        from django.db import connection

        render_job_execute(job_id=job_id, worker="browser-test")
        connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


TALENT_PASSWORD = "maya-Okafor-likeness-2026"


def _post(page, url: str) -> int:  # type: ignore[no-untyped-def]
    """A form post from this signed-in page (the CSRF token as the portal's forms send it)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(url, form={"csrfmiddlewaretoken": token}, headers={"Referer": page.url},
                             max_redirects=0).status


def _status(page, url: str) -> int:  # type: ignore[no-untyped-def]
    status = page.request.get(url, max_redirects=0).status
    return _post(page, url) if status == 405 else status


def _fresh_code(secret: str, *, used: str) -> str:
    """A code from a later time step: an authenticator code works once."""
    while (code := totp_code(secret)) == used:
        time.sleep(1)
    return code


def _portal_routes(ids: dict[str, str], per_route: dict[str, dict[str, str]]) -> dict[str, str]:
    """Every portal page that names an object, filled with the story's objects (``per_route``
    overrides an id for one route, e.g. the evidence of a representation)."""
    from django.urls import reverse

    from bespoke.portal import urls

    routes = {}
    for pattern in urls.urlpatterns:
        names = list(pattern.pattern.converters)
        if not names or names == ["token"]:
            continue
        given = {**ids, **per_route.get(pattern.name, {})}
        missing = [name for name in names if name not in given]
        assert not missing, f"the story has no object for {pattern.name}: {missing}"
        routes[pattern.name] = reverse(pattern.name, kwargs={name: given[name] for name in names})
    return routes


NO_DESK_FACT_FIELDS = "[name=capacity], [name=talent_birth_date], [name=representative]"


def test_the_whole_story_in_a_browser(browser, live_server, personas, tiny_model, settings, tmp_path, monkeypatch):
    from accounts.services import totp_enrol
    from consent.models import LikenessLicense, Talent
    from generation.models import RenderJob
    from generation.pipeline.video import decode_mp4, encode_mp4
    from generation.services import render as renders
    from generation.tracing import media_verify

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BESPOKE_PUBLIC_URL = live_server.url
    SERVER_ERRORS.clear()
    for user in (personas.bob, personas.charlie, personas.dana, personas.frank, personas.grace):
        with_verified_email(user)
    dana_secret, frank_secret, grace_secret = (totp_enrol(user=user)
                                               for user in (personas.dana, personas.frank, personas.grace))
    document, capture = tmp_path / "id-card.jpg", tmp_path / "holding-the-code.jpg"
    for path, data in zip((document, capture), synthetic_face_photos(2, seed=7)):
        path.write_bytes(data)
    url = live_server.url
    USED_CODES.clear()

    # slow each denoising step a little so the progress bar can be seen moving
    real_render = renders.render_frames

    def paced(pipe, render_settings, on_step):  # type: ignore[no-untyped-def]
        return real_render(pipe, render_settings, on_step=lambda d, t: (time.sleep(0.15), on_step(d, t)))

    monkeypatch.setattr(renders, "render_frames", paced)

    # Legal invites the talent.
    dana = _sign_in(browser, live_server, personas.dana, dana_secret)
    dana.click("a:text-is('Invitations')")
    dana.click("button:text-is('Send invitation')")
    dana.wait_for_selector("text=Give the address to send the link to.")
    dana.check("input[name=kind][value=talent]")
    dana.fill("input[name=display_name]", "Maya Okafor")
    dana.fill("input[name=email]", "maya@example.com")
    dana.click("button:text-is('Send invitation')")
    link = dana.input_value("#invitation-link")
    _shot(dana, "00-legal-invites-talent")

    # The talent creates her account from the link and enrols an authenticator app.
    maya = _new_page(browser)
    maya.goto(link)
    maya.fill("input[name=username]", "maya")
    maya.fill("input[name=password]", TALENT_PASSWORD)
    maya.fill("input[name=password_confirm]", "something else entirely")
    maya.click("button:text-is('Create account')")
    assert "Traceback" not in maya.content()
    maya.fill("input[name=password]", TALENT_PASSWORD)
    maya.fill("input[name=password_confirm]", TALENT_PASSWORD)
    maya.click("button:text-is('Create account')")
    maya.wait_for_selector("#authenticator_secret")  # her new password is not asked for again
    _shot(maya, "01-talent-enrols-mfa")
    secret = maya.input_value("#authenticator_secret")
    activation_code = totp_code(secret)
    maya.fill("input[name=code]", activation_code)
    maya.click("button:text-is('Activate')")
    maya.wait_for_load_state()
    talent = Talent.objects.get(user__username="maya")

    # Identity verification: the talent uploads evidence, legal approves it (four eyes).
    maya.goto(f"{url}/verification/")
    maya.select_option("select[name=method]", "document")
    maya.click("button:text-is('Ask for verification')")
    maya.wait_for_selector("#challenge-code")
    for kind, path in (("id_document", document), ("consent_capture", capture)):
        maya.select_option("select[name=kind]", kind)
        maya.set_input_files("input[name=file]", str(path))
        maya.click("button:text-is('Upload')")
        maya.wait_for_selector("text=Uploaded and stored encrypted.")
    _shot(maya, "02-talent-verification-evidence")

    # The verification desk decides, outside every studio: Frank records, Grace confirms.
    frank = _sign_in(browser, live_server, personas.frank, frank_secret)
    frank.click("a:has-text('identity verification')")  # the home page's link to the desk queue
    frank.wait_for_selector("text=a first approval")
    frank.click("a:text-is('Maya Okafor')")
    frank.wait_for_selector("text=each viewing is recorded")
    with frank.expect_popup() as shown:
        frank.click("a:text-is('view identity document')")
    assert shown.value.evaluate("document.contentType") == "image/png"
    shown.value.close()
    frank.fill("input[name=legal_name]", "Maya Adaeze Okafor")
    frank.fill("input[name=birth_date]", "1994-03-18")
    _shot(frank, "03-desk-verification-review")
    _submit_confirmed(frank, "button:text-is('Approve and record')", "frank", frank_secret)
    frank.wait_for_selector("text=First approval recorded.")
    frank.goto(f"{url}/desk/verifications/{talent.verifications.get().id}/")
    frank.wait_for_selector("text=Four eyes: a second, different verifier must confirm this approval.")
    assert frank.locator("button:text-is('Confirm and approve')").count() == 0
    grace = _sign_in(browser, live_server, personas.grace, grace_secret)
    grace.goto(f"{url}/desk/")
    grace.wait_for_selector("text=a second approval")
    grace.click("a:text-is('Maya Okafor')")
    grace.wait_for_selector("text=Maya Adaeze Okafor")
    _shot(grace, "03b-desk-second-verifier-confirms")
    _submit_confirmed(grace, "button:text-is('Confirm and approve')", "grace", grace_secret)
    grace.wait_for_selector("text=Approved: a second verifier confirmed")
    assert talent.verifications.get().status == "approved"
    dana.goto(f"{url}/")
    assert "Maya Okafor" not in dana.inner_text("main") and dana.locator("a[href^='/desk/']").count() == 0

    # Legal drafts the license from a template and offers it.
    dana.goto(f"{url}/licenses/new/")
    dana.select_option("#pick-template", label="Advertising — single campaign, 3 months, per-use approval")
    dana.select_option("#pick-talent", label="Maya Okafor")
    dana.click("button:text-is('Fill the form from this template')")
    assert dana.locator(NO_DESK_FACT_FIELDS).count() == 0, "no field for what the desk establishes"
    assert "verified" in dana.inner_text("#talent-standing") and "signs themself" in dana.inner_text("#talent-standing")
    dana.fill("input[name=project]", "")
    dana.click("button:text-is('Draft the license')")
    assert "Traceback" not in dana.content()
    dana.fill("input[name=project]", "Night Market campaign")
    dana.check("input[name=offer]")
    _shot(dana, "04-legal-drafts-from-template")
    dana.click("button:text-is('Draft the license')")
    dana.wait_for_url("**/licenses/*/")
    license = LikenessLicense.objects.get(talent=talent)
    license_url = f"{url}/licenses/{license.id}/"

    maya.goto(license_url)
    assert maya.inner_text("#talent-side") == "The talent is a verified adult and signs themself."
    _shot(maya, "05-talent-license-to-sign")
    maya.check("input[name=disclosure_accepted]")
    maya.click("button:text-is('Sign')")
    maya.wait_for_selector("text=Enter an authenticator code")  # signing asks for the second factor again
    _shot(maya, "05b-talent-signs-with-mfa")
    maya.fill("input[name=code]", _fresh_code(secret, used=activation_code))
    maya.click("button:text-is('Confirm')")
    maya.wait_for_url(license_url)  # back on the license, to sign again now that it is confirmed
    maya.check("input[name=disclosure_accepted]")
    maya.click("button:text-is('Sign')")
    maya.wait_for_selector("text=Signed. Legal countersigns next.")

    dana.goto(license_url)
    dana.check("input[name=disclosure_accepted]")
    dana.click("button:has-text('Countersign')")
    dana.wait_for_selector("text=Countersigned.")
    _shot(dana, "06-legal-countersigned")

    # The producer asks; an excluded scene is refused in plain words, an allowed one waits for the talent.
    bob = _sign_in(browser, live_server, personas.bob, None)
    bob.goto(license_url)
    bob.fill("textarea[name=prompt]", "sks person speaking at an election rally")
    bob.click("text=Request render")
    bob.wait_for_selector("text=Refused: The prompt touches the excluded category 'political'")
    assert "Traceback" not in bob.content()
    bob.fill("textarea[name=prompt]", "sks person walking through the night market")
    bob.fill("input[name=num_frames]", "8")
    bob.fill("input[name=steps]", "24")
    _shot(bob, "07-producer-request-form")
    bob.click("text=Request render")
    bob.wait_for_selector("text=Waiting for the talent's approval")

    maya.goto(f"{url}/")
    maya.wait_for_selector("text=Uses waiting for your approval")
    _shot(maya, "08-talent-approval")
    maya.click("text=Approve this use")
    maya.wait_for_selector("text=Approved: the render is queued.")

    job = RenderJob.objects.get()
    worker = _run_worker(str(job.id))
    bob.goto(f"{url}/renders/")
    bob.wait_for_function("document.querySelector('progress') && document.querySelector('progress').value > 0",
                          timeout=30_000)
    _shot(bob, "09-producer-progress")
    bob.wait_for_selector("text=Done", timeout=90_000)
    worker.join(timeout=60)
    with bob.expect_download() as download_info:
        bob.click("a:text-is('Download')")
    clip = tmp_path / "clip.mp4"
    download_info.value.save_as(clip)
    assert media_verify(path=clip).manifest.is_trusted
    job.refresh_from_db()

    visitor = _new_page(browser)
    visitor.goto(f"{url}/verify/")
    visitor.click("button:text-is('Check')")
    assert "Traceback" not in visitor.content()
    visitor.set_input_files("input[name=file]", str(clip))
    visitor.click("button:text-is('Check')")
    visitor.wait_for_selector("#result")
    assert visitor.inner_text("#manifest-state") == "trusted"
    assert visitor.inner_text("#consent-state") == "active"
    _shot(visitor, "10-verify-trusted-active")

    stripped = tmp_path / "reuploaded.mp4"
    encode_mp4(decode_mp4(clip), stripped, fps=8, crf=28)
    visitor.goto(f"{url}/verify/")
    visitor.set_input_files("input[name=file]", str(stripped))
    visitor.click("button:text-is('Check')")
    visitor.wait_for_selector("#trace")
    assert "no content credentials" in visitor.inner_text("#result")
    assert str(job.output.id) in visitor.inner_text("#trace")
    assert visitor.inner_text("#consent-state") == "active"
    _shot(visitor, "11-verify-traced-by-watermark")

    maya.goto(f"{url}/me/likeness/")
    maya.wait_for_selector(f"text={job.output.manifest_label}")
    maya.wait_for_function("[...document.images].every(img => img.complete && img.naturalWidth > 0)")
    _shot(maya, "12-talent-my-likeness")

    bob.goto(license_url)  # the producer has the request form open while the talent revokes
    bob.fill("textarea[name=prompt]", "sks person buying fruit at the night market")

    # The talent revokes, seeing the consequences first.
    maya.goto(license_url)
    maya.click("a:has-text('Revoke this license')")
    maya.wait_for_url("**/revoke/")
    maya.wait_for_selector("role=note")
    assert "does not recall outputs already delivered" in maya.inner_text("[role=note]")
    _shot(maya, "13-talent-revoke-consequences")
    maya.click("button:text-is('Revoke now')")
    maya.wait_for_selector("text=Give a reason for the revocation.")
    maya.fill("textarea[name=reason]", "I no longer consent.")
    maya.click("button:text-is('Revoke now')")
    maya.wait_for_selector("text=Revoked.")

    for copy in (clip, stripped):
        visitor.goto(f"{url}/verify/")
        visitor.set_input_files("input[name=file]", str(copy))
        visitor.click("button:text-is('Check')")
        visitor.wait_for_selector("#result")
        assert visitor.inner_text("#consent-state") == "revoked"
    _shot(visitor, "14-verify-revoked")

    bob.click("text=Request render")  # the next request is refused, with the reason
    bob.wait_for_selector("text=Renders under this license are refused: The talent revoked this license.")
    assert RenderJob.objects.count() == 1
    _shot(bob, "15-producer-refused")
    assert "Traceback" not in bob.content() and "Server Error" not in bob.content()

    # A guardian is verified by the desk for a minor, and signs for her.
    noor, ife, ife_secret = _minor_and_guardian(personas)
    guardian = _sign_in(browser, live_server, ife, ife_secret)
    guardian.goto(f"{url}/representations/")
    guardian.check("input[name=kind][value=guardian]")
    guardian.fill("input[name=talent_username]", "nobody")
    guardian.click("button:text-is('Ask the verification desk')")
    guardian.wait_for_selector("text=No talent has that username.")
    guardian.fill("input[name=talent_username]", "noor")
    guardian.click("button:text-is('Ask the verification desk')")
    guardian.wait_for_selector("#challenge-code")
    authority = tmp_path / "birth-certificate.pdf"
    authority.write_bytes(AUTHORITY_PDF)
    for kind, path in (("id_document", document), ("consent_capture", capture), ("authority", authority)):
        guardian.select_option("select[name=kind]", kind)
        guardian.set_input_files("input[name=file]", str(path))
        guardian.click("button:text-is('Upload')")
        guardian.wait_for_selector("text=Uploaded and stored encrypted.")
    guardian.wait_for_selector("text=All the evidence is in")
    _shot(guardian, "16-guardian-uploads-evidence")

    frank = _sign_in(browser, live_server, personas.frank, frank_secret)
    frank.goto(f"{url}/desk/")
    frank.click("a:text-is('Noor Okafor')")
    frank.wait_for_selector("text=The talent, as the desk verified them")
    frank.fill("input[name=legal_name]", "Ife Okafor")
    _shot(frank, "17-desk-guardian-review")
    _submit_confirmed(frank, "button:text-is('Approve and record')", "frank", frank_secret)
    frank.wait_for_selector("text=First approval recorded.")
    grace = _sign_in(browser, live_server, personas.grace, grace_secret)
    grace.goto(f"{url}/desk/")
    grace.click("a:text-is('Noor Okafor')")
    _submit_confirmed(grace, "button:text-is('Confirm and approve')", "grace", grace_secret)
    grace.wait_for_selector("text=Approved: a second verifier confirmed")

    dana.goto(f"{url}/licenses/new/")
    dana.select_option("#pick-template", label="Feature film — principal role, 12 months")
    dana.select_option("#pick-talent", label="Noor Okafor")
    dana.click("button:text-is('Fill the form from this template')")
    assert dana.locator(NO_DESK_FACT_FIELDS).count() == 0, "a studio never names a representative"
    standing = dana.inner_text("#talent-standing")
    assert "a minor" in standing and "guardian of a minor on file signs" in standing and "Ife Okafor" in standing
    dana.fill("input[name=project]", "The Lantern Festival")
    dana.check("input[name=offer]")
    _shot(dana, "18-legal-drafts-for-a-minor")
    dana.click("button:text-is('Draft the license')")
    dana.wait_for_url("**/licenses/*/")
    minor_license = LikenessLicense.objects.get(talent=noor)
    minor_url = f"{url}/licenses/{minor_license.id}/"

    guardian.goto(minor_url)
    assert guardian.inner_text("#talent-side") == "The talent is a minor: the verified guardian of a minor signs."
    guardian.check("input[name=disclosure_accepted]")
    _submit_confirmed(guardian, "button:text-is('Sign')", "ife", ife_secret)
    guardian.wait_for_selector("text=Signed. Legal countersigns next.")
    _shot(guardian, "19-guardian-signed-for-minor")
    minor_license.refresh_from_db()
    assert minor_license.signed_by_id == ife.pk and minor_license.signed_under.representative_id == ife.pk

    minor = _sign_in(browser, live_server, noor.user, None)
    minor.goto(minor_url)
    assert minor.locator("button:text-is('Sign')").count() == 0
    assert minor.locator("a:has-text('Revoke this license')").count() == 1
    _shot(minor, "20-minor-can-revoke")

    # Every object page of the story is 404 for another studio's producer; pages outside a
    # persona's role are 404 for them too, in the browser as in the API. Studios never reach
    # the desk or identity evidence.
    from consent.license_templates import license_templates_for_user
    from stories.services import story_create

    verification = talent.verifications.get()
    representation = noor.representations.get()
    from tests.stories import story_file
    story = story_create(organization=personas.studio, title="", acting_user=personas.bob,
                         ink_source=story_file("harbour.ink").read_text(encoding="utf-8"),
                         compiled_json=story_file("harbour.json").read_text(encoding="utf-8"))
    routes = _portal_routes({
        "license_id": str(license.id), "verification_id": str(verification.id),
        "evidence_id": str(verification.evidence.first().id), "job_id": str(job.id),
        "output_id": str(job.output.id), "invitation_id": str(talent.user.invitation.id),
        "template_id": str(license_templates_for_user(user=personas.dana).first().id),
        "representation_id": str(representation.id), "story_id": str(story.id),
        "role_id": str(story.roles.first().id),
        # playthroughs are a viewer's alone; none exists here, and no one else ever sees one
        "playthrough_id": str(uuid.uuid4()), "scene_id": str(uuid.uuid4()),
    }, {name: {"evidence_id": str(representation.evidence.first().id)}
        for name in ("portal-desk-representation-evidence", "portal-representation-evidence")})
    charlie = _sign_in(browser, live_server, personas.charlie, None)
    seen = {name: _status(charlie, f"{url}{path}") for name, path in routes.items()}
    assert {name for name, status in seen.items() if status != 404} == set(), seen
    desk_only = ("portal-desk-verification", "portal-desk-verification-evidence", "portal-desk-representation",
                 "portal-desk-representation-evidence", "portal-representation-evidence")
    legal_only = ("portal-invitation-revoke", "portal-template-edit", "portal-template-archive",
                  "portal-license-suspend", "portal-license-resume", "portal-likeness-thumbnail")
    for page, names in ((bob, desk_only + legal_only), (maya, desk_only + legal_only[:-1]), (dana, desk_only),
                        (minor, desk_only)):
        statuses = {name: _status(page, f"{url}{routes[name]}") for name in names}
        assert {name: status for name, status in statuses.items() if status != 404} == {}
    for page in (bob, maya):
        for path in ("/invitations/", "/templates/", "/audit/", "/licenses/new/", "/desk/"):
            assert page.request.get(f"{url}{path}").status == 404, path
    assert dana.request.get(f"{url}/desk/").status == 404
    assert SERVER_ERRORS == [], "no page may answer with a server error"


def _minor_and_guardian(personas):  # type: ignore[no-untyped-def]
    """Noor, a talent the desk verified as a minor, and Ife, who will ask to be her guardian
    (an account with no role, an authenticator app enrolled)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.services import totp_enrol
    from consent import services
    from dateutil.relativedelta import relativedelta
    from tests.conftest import verify_identity

    users = get_user_model().objects
    noor = with_verified_email(users.create_user(username="noor"))
    ife = with_verified_email(users.create_user(username="ife"))
    talent = services.talent_enrol(user=noor, display_name="Noor Okafor", acting_user=noor)
    verify_identity(personas, talent, birth_date=timezone.localdate() - relativedelta(years=13))
    return talent, ife, totp_enrol(user=ife)
