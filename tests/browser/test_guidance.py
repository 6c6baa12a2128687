"""Guidance at every step, in Debian's Chromium driven by Playwright.

Maya, invited by legal Dana, creates her account and goes on to her authenticator app
without being asked for her password again. Alice's verification page shows its state and
its method apart; her home page tells her to verify her identity first, then to upload her
evidence, then that two verifiers of the platform's verification desk review it, and
verifier Frank's home sends him to the desk queue. Each persona's home page names their
next action as a license moves from offered to signed to countersigned. Alice, asked to
confirm it is her before signing, comes back to the license with the disclosure box ticked
as she left it. A render says it is queued, then starting, before it counts its steps.
"""

from __future__ import annotations

from importlib import import_module

import pytest
from django.conf import settings as django_settings

from bespoke.synthetic_faces import synthetic_face_photos
from tests.accounts.conftest import totp_code, with_verified_email
from tests.browser.test_story import (
    SERVER_ERRORS,
    USED_CODES,
    _code,
    _new_page,
    _shot,
    _sign_in,
    browser,  # noqa: F401 (a fixture)
)
from tests.conftest import SMALL_RENDER, make_license

pytestmark = [pytest.mark.django_db(transaction=True)]

MAYA_PASSWORD = "maya-Okafor-likeness-2026"


@pytest.fixture(autouse=True)
def _fresh_run():  # type: ignore[no-untyped-def]
    SERVER_ERRORS.clear()
    USED_CODES.clear()
    yield
    assert SERVER_ERRORS == []


def _next_steps(page) -> str:  # type: ignore[no-untyped-def]
    return page.inner_text("#next-steps")


def _age_sign_in(page, seconds: int) -> None:  # type: ignore[no-untyped-def]
    """Make this browser's sign-in `seconds` older, as if the person had been reading that long."""
    key = next(c["value"] for c in page.context.cookies() if c["name"] == django_settings.SESSION_COOKIE_NAME)
    session = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=key)
    for record in session["account_authentication_methods"]:
        record["at"] -= seconds
    session.save()


def test_a_new_talent_is_asked_for_her_password_once(browser, live_server, personas, settings):  # noqa: F811
    from accounts.invitations import invitation_create, invitation_link

    settings.BESPOKE_PUBLIC_URL = live_server.url
    with_verified_email(personas.dana)
    _, token = invitation_create(organization=personas.studio, kind="talent", email="maya@example.com",
                                 display_name="Maya Okafor", acting_user=personas.dana)

    # She creates her account and goes straight on to her authenticator app.
    maya = _new_page(browser)
    maya.goto(invitation_link(token))
    maya.fill("input[name=username]", "maya")
    maya.fill("input[name=password]", MAYA_PASSWORD)
    maya.fill("input[name=password_confirm]", MAYA_PASSWORD)
    maya.click("button:text-is('Create account')")
    maya.wait_for_load_state()
    assert "/reauthenticate/" not in maya.url, "asked again for the password she had just chosen"
    maya.wait_for_selector("#authenticator_secret", timeout=5_000)
    secret = maya.input_value("#authenticator_secret")
    maya.fill("input[name=code]", totp_code(secret))
    maya.click("button:text-is('Activate')")
    maya.wait_for_load_state()
    maya.goto(f"{live_server.url}/")
    assert "Verify your identity first" in _next_steps(maya)


def test_the_verification_page_shows_its_state_and_its_method_apart(browser, live_server, personas):  # noqa: F811
    from consent import desk
    from tests.conftest import ADULT_BIRTH_DATE
    from tests.consent.evidence import evidence_files

    with_verified_email(personas.alice)
    alice = _sign_in(browser, live_server, personas.alice, None)
    alice.goto(f"{live_server.url}/verification/")
    alice.select_option("select[name=method]", "document")
    alice.click("button:text-is('Ask for verification')")
    alice.wait_for_selector("#challenge-code")
    assert alice.inner_text("#verification-method") == "Government ID document"
    state = alice.inner_text("#verification-state")
    assert state.startswith("Waiting for review by the verification desk") and "checked" not in state.lower()
    _shot(alice, "guidance-02-verification-state-and-method")

    verification = personas.talent.verifications.get()
    for kind, (name, data) in evidence_files().items():
        if kind in ("id_document", "consent_capture"):
            desk.identity_evidence_add(verification=verification, kind=kind, data=data, filename=name,
                                       acting_user=personas.alice)
    desk.identity_verification_decide(verification=verification, approve=True, acting_user=personas.frank,
                                      legal_name="Alice Avery", birth_date=ADULT_BIRTH_DATE)
    alice.reload()
    assert alice.inner_text("#verification-state").startswith("Waiting for a second verifier")
    assert alice.inner_text("#verification-method") == "Government ID document"


def test_the_talent_home_says_verify_then_upload_then_who_reviews(
        browser, live_server, personas, tmp_path):  # noqa: F811
    from accounts.services import totp_enrol

    frank_secret = totp_enrol(user=with_verified_email(personas.frank))
    with_verified_email(personas.alice)
    alice = _sign_in(browser, live_server, personas.alice, None)
    alice.reload()  # past the "signed in" message
    assert "Verify your identity first" in _next_steps(alice)
    _shot(alice, "guidance-01-talent-verify-first")
    alice.click("#next-steps a:text-is('Verify your identity first')")
    alice.wait_for_url("**/verification/")
    alice.select_option("select[name=method]", "document")
    alice.click("button:text-is('Ask for verification')")
    alice.wait_for_selector("#challenge-code")

    alice.goto(f"{live_server.url}/")
    assert "Upload your identity evidence" in _next_steps(alice)
    alice.click("#next-steps a:text-is('Upload your identity evidence')")
    alice.wait_for_url("**/verification/")
    for kind, photo in zip(("id_document", "consent_capture"), synthetic_face_photos(2, seed=11)):
        path = tmp_path / f"{kind}.jpg"
        path.write_bytes(photo)
        alice.select_option("select[name=kind]", kind)
        alice.set_input_files("input[name=file]", str(path))
        alice.click("button:text-is('Upload')")
        alice.wait_for_selector("text=Uploaded and stored encrypted.")

    # Waiting now, and for whom.
    alice.goto(f"{live_server.url}/")
    steps = _next_steps(alice)
    assert "waiting for review by the platform's verification desk" in steps and "two verifiers" in steps
    _shot(alice, "guidance-03-talent-waits-for-the-desk")

    frank = _sign_in(browser, live_server, personas.frank, frank_secret)
    assert "1 identity verification and 0 representations waiting in the desk queue" in _next_steps(frank)
    frank.click("#next-steps a:has-text('identity verification')")
    frank.wait_for_url("**/desk/")
    assert "Alice Avery" in frank.inner_text("main")


def test_each_persona_home_names_their_next_action(browser, live_server, personas):  # noqa: F811
    from accounts.services import totp_enrol
    from consent import services
    from tests.conftest import sign_context

    for user in (personas.alice, personas.bob, personas.charlie, personas.dana):
        with_verified_email(user)
    dana_secret = totp_enrol(user=personas.dana)
    license = make_license(personas, signed=False, countersigned=False)
    license_path = f"/licenses/{license.id}/"
    alice = _sign_in(browser, live_server, personas.alice, None)
    bob = _sign_in(browser, live_server, personas.bob, None)
    charlie = _sign_in(browser, live_server, personas.charlie, None)
    dana = _sign_in(browser, live_server, personas.dana, dana_secret)
    for page in (alice, bob, charlie, dana):
        page.reload()  # past the "signed in" message

    assert "Read and sign the license for Night Market · Mara" in _next_steps(alice)
    assert alice.get_attribute("#next-steps a:has-text('Read and sign')", "href") == license_path
    _shot(alice, "guidance-04-talent-sign-next")
    assert "Wait for the license for Night Market · Mara: waiting for the talent to sign" in _next_steps(bob)
    assert "No license of your studio is in force yet" in _next_steps(charlie)
    legal = _next_steps(dana)
    assert "Draft a license" in legal and "Invite a talent or a colleague" in legal and "Countersign" not in legal

    license = services.license_sign(license=license, context=sign_context(license), acting_user=personas.alice)
    dana.reload()
    assert "Countersign the license for Night Market · Mara" in _next_steps(dana)
    _shot(dana, "guidance-05-legal-countersign-next")
    bob.reload()
    assert "waiting for your studio's legal staff to countersign" in _next_steps(bob)
    alice.reload()
    assert "Nothing waits for you now" in _next_steps(alice)

    services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    bob.reload()
    assert "Request a render under Night Market · Mara" in _next_steps(bob)
    _shot(bob, "guidance-06-producer-request-next")
    bob.click("#next-steps a:has-text('Request a render')")
    bob.wait_for_url(f"**{license_path}")
    assert bob.locator("textarea[name=prompt]").count() == 1
    dana.reload()
    assert "Countersign" not in _next_steps(dana)


def test_after_confirming_it_is_her_the_talent_finds_the_form_as_she_left_it(
        browser, live_server, personas):  # noqa: F811
    from accounts.services import totp_enrol
    from consent.models import LikenessLicense

    with_verified_email(personas.alice)
    secret = totp_enrol(user=personas.alice)
    license = make_license(personas, signed=False, countersigned=False)
    license_url = f"{live_server.url}/licenses/{license.id}/"
    alice = _sign_in(browser, live_server, personas.alice, secret)
    alice.goto(license_url)
    _age_sign_in(alice, django_settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 60)  # she read the license a while

    alice.check("input[name=disclosure_accepted]")
    alice.click("button:text-is('Sign')")
    alice.wait_for_url("**/reauthenticate/**")
    alice.fill("input[name=code]", _code("alice", secret))
    alice.click("button:text-is('Confirm')")
    alice.wait_for_url(license_url)
    assert alice.is_checked("input[name=disclosure_accepted]"), "the box she ticked is ticked again"
    assert "What you entered is back in the form" in alice.inner_text("#kept-form-notice")
    _shot(alice, "guidance-07-back-from-step-up")
    alice.click("button:text-is('Sign')")
    alice.wait_for_selector("text=Signed. Legal countersigns next.")
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.SIGNED

    alice.goto(license_url)  # given once: a later visit shows the page as drawn
    assert alice.locator("#kept-form-notice").count() == 0


def test_a_render_says_queued_then_starting_before_its_steps(browser, live_server, personas):  # noqa: F811
    from django.utils import timezone

    from generation.models import RenderJob
    from generation.services import render as renders

    with_verified_email(personas.bob)
    license = make_license(personas)
    job = renders.render_job_request(license_id=str(license.id), prompt="sks person at the night market",
                                     params=SMALL_RENDER, acting_user=personas.bob)
    bob = _sign_in(browser, live_server, personas.bob, None)
    bob.goto(f"{live_server.url}/renders/")
    progress = f"#progress-{job.id}"
    assert "Queued: waiting for a worker to start it" in bob.inner_text(progress)

    # A worker claims it: loading the model comes before the first denoising step.
    RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.RUNNING, attempt=1, worker="guidance-test",
                                               started_at=timezone.now())
    bob.wait_for_selector(f"{progress} >> text=Starting: loading the model", timeout=10_000)
    assert "step 0 of 0" not in bob.inner_text(progress)
    _shot(bob, "guidance-08-render-starting")
    RenderJob.objects.filter(pk=job.pk).update(progress_step=1, progress_total=3)
    bob.wait_for_selector(f"{progress} >> text=step 1 of 3", timeout=10_000)
