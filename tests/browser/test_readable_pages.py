"""Documents and pages people can read, in Debian's Chromium driven by Playwright.

Alice opens the license Northlight Studios offers her: its terms read as words ("alcohol and
tobacco", "Per published output", "1 March 2026"), each clause is one flowing paragraph, and
the Sign button comes after the text and the electronic-records disclosure. Her evidence
upload without a file shows the error in the file field's own block, named by the input's
aria-describedby. Bob's render request without a prompt does the same. Times read "2 Dec
2026, 13:34 UTC" and never as ISO timestamps. Alice's likeness page lists each clip with its
scene, licensee, license and date. Legal Dana's audit log fits a 1200 px window with every
long value wrapped or behind a <details>; Erin, enrolling an authenticator app, sees her
whole secret and a QR code for it.
"""

from __future__ import annotations

import re

import pytest

from tests.accounts.conftest import PASSWORD, totp_code, with_verified_email
from tests.browser.test_story import SERVER_ERRORS, _new_page, _shot, _sign_in, browser  # noqa: F401 (a fixture)
from tests.conftest import SMALL_RENDER, make_license

pytestmark = [pytest.mark.django_db(transaction=True)]

MOMENT = re.compile(r"\b\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC\b")
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
SCENE = "sks person walking through the night market at dusk"

FOLLOWS = """([before, after]) => {
    const find = (selector, text) => [...document.querySelectorAll(selector)].find(e => e.textContent.trim() === text);
    const first = find(...before), second = find(...after);
    return !!(first && second && (first.compareDocumentPosition(second) & Node.DOCUMENT_POSITION_FOLLOWING));
}"""

ERROR_IN_ITS_BLOCK = """name => {
    const input = document.querySelector(`[name=${name}]`);
    const error = input && document.getElementById(`${input.id}_error`);
    const label = input && document.querySelector(`label[for=${input.id}]`);
    return {
        error: error ? error.textContent.trim() : null,
        sameBlock: !!(error && label && error.parentElement === input.parentElement && label.parentElement === input.parentElement),
        labelFirst: !!(error && label && (label.compareDocumentPosition(error) & Node.DOCUMENT_POSITION_FOLLOWING)),
        describedBy: (input && input.getAttribute('aria-describedby') || '').split(' '),
        invalid: input && input.getAttribute('aria-invalid'),
    };
}"""


def _error_in_its_block(page, name: str, message: str) -> None:  # type: ignore[no-untyped-def]
    found = page.evaluate(ERROR_IN_ITS_BLOCK, name)
    assert found["error"] == message, found
    assert found["sameBlock"] and found["labelFirst"], f"{name}: the error is not in the field's own block"
    input_id = page.get_attribute(f"[name={name}]", "id")
    assert f"{input_id}_error" in found["describedBy"] and found["invalid"] == "true", found


def _publish(license, prompt: str, producer):  # type: ignore[no-untyped-def]
    from generation.models import RenderOutput
    from generation.services import render as renders

    job = renders.render_job_request(license_id=str(license.id), prompt=prompt, params=SMALL_RENDER,
                                     acting_user=producer)
    renders.render_job_execute(job_id=str(job.id), worker="browser-test")
    return RenderOutput.objects.get(job=job)


def test_licenses_forms_times_and_clips_read_as_words(browser, live_server, personas, tiny_model, settings,  # noqa: F811
                                                        tmp_path):
    from consent.models import LikenessLicense

    settings.MEDIA_ROOT = tmp_path / "media"
    SERVER_ERRORS.clear()
    url = live_server.url
    for user in (personas.alice, personas.bob):
        with_verified_email(user)
    offered = make_license(personas, signed=False, countersigned=False, project="Harbour Lights",
                           excluded=("alcohol_tobacco", "political"), media=("video", "image"))
    active = make_license(personas, excluded=("alcohol_tobacco",))
    output = _publish(active, SCENE, personas.bob)

    # The license to sign: terms in words, one paragraph a clause, then the disclosure, then Sign.
    alice = _sign_in(browser, live_server, personas.alice, None)
    alice.goto(f"{url}/licenses/{offered.id}/")
    text = alice.inner_text("main")
    assert "alcohol and tobacco" in text and "alcohol_tobacco" not in text
    assert "Per published output: 250.00 EUR" in text and "per render" not in text.lower()
    assert "Media: still image, video." in text
    assert re.search(r"4\. Term\. From \d{1,2} [A-Z][a-z]+ \d{4} to \d{1,2} [A-Z][a-z]+ \d{4} inclusive", text)
    use = alice.locator("#license-body p", has_text="1. Use.").inner_text()
    assert use.endswith(LikenessLicense.objects.get(pk=offered.id).use_description), "a clause is one paragraph"
    revocation = alice.locator("#license-body p", has_text="10. Revocation.").inner_text()
    assert "Revocation stops all further generation at once." in revocation
    assert alice.evaluate(FOLLOWS, [["h2", "License text"], ["button", "Sign"]]), "read the text, then sign"
    assert alice.evaluate(FOLLOWS, [["h3", "Electronic-records disclosure"], ["button", "Sign"]])
    assert "paper copy of the license and of this disclosure" in alice.inner_text("section[aria-labelledby=disclosure]")
    _shot(alice, "readable-01-license-to-sign")

    # Times read as people write them, with the zone; dates alone where a date is meant.
    alice.goto(f"{url}/licenses/{active.id}/")
    main = alice.inner_text("main")
    assert not ISO_MOMENT.search(main), ISO_MOMENT.search(main)
    assert MOMENT.search(alice.inner_text("main ul")), "each signature names its moment and zone"

    # An upload without a file: the error sits in the file field's block and the input names it.
    alice.goto(f"{url}/verification/")
    alice.select_option("select[name=method]", "document")
    alice.click("button:text-is('Ask for verification')")
    alice.wait_for_selector("#challenge-code")
    alice.click("button:text-is('Upload')")
    alice.wait_for_selector(".errorlist")
    _error_in_its_block(alice, "file", "Choose a file to upload.")
    _shot(alice, "readable-02-evidence-error-beside-its-field")

    # Her likeness: each clip with its scene, licensee, license and date.
    alice.goto(f"{url}/me/likeness/")
    row = alice.locator("tbody tr", has_text=output.manifest_label)
    assert SCENE in row.inner_text() and "Northlight Studios" in row.inner_text()
    assert row.locator(f"a[href='/licenses/{active.id}/']").count() == 1
    assert MOMENT.search(row.inner_text()) and not ISO_MOMENT.search(alice.inner_text("main"))
    _shot(alice, "readable-03-my-likeness-scenes")

    # The producer's render request without a prompt: the error is the prompt's own.
    bob = _sign_in(browser, live_server, personas.bob, None)
    bob.goto(f"{url}/licenses/{active.id}/")
    assert "Excluded: Alcohol and tobacco" in bob.inner_text("section[aria-labelledby=request]")
    bob.click("button:text-is('Request render')")
    bob.wait_for_selector(".errorlist")
    _error_in_its_block(bob, "prompt", "Describe the scene to render.")
    assert SERVER_ERRORS == []


def test_the_audit_log_fits_the_window_and_the_authenticator_secret_shows_whole(browser, live_server, personas):  # noqa: F811
    from accounts.services import totp_enrol
    from consent import services

    for user in (personas.dana, personas.erin):
        with_verified_email(user)
    dana_secret = totp_enrol(user=personas.dana)
    license = make_license(personas)
    services.license_revoke(license=license, reason="The talent no longer wants this use of her likeness. " * 3,
                            acting_user=personas.alice)
    SERVER_ERRORS.clear()

    dana = _sign_in(browser, live_server, personas.dana, dana_secret)
    dana.set_viewport_size({"width": 1200, "height": 900})
    dana.goto(f"{live_server.url}/audit/")
    dana.wait_for_selector("table")
    assert dana.evaluate("document.documentElement.scrollWidth") <= 1200, "the audit log is wider than the window"
    long_values = dana.locator("td details")
    assert long_values.count() > 0
    assert license.text_sha256 in " ".join(long_values.all_text_contents()), "a long value can be seen whole"
    assert not ISO_MOMENT.search(dana.inner_text("table tbody tr td:nth-child(2)"))
    _shot(dana, "readable-04-audit-log-fits")

    # Erin, legal staff without an authenticator app, is sent to enrol one.
    erin = _new_page(browser)
    erin.goto(f"{live_server.url}/accounts/login/")
    erin.fill("input[name=login]", "erin")
    erin.fill("input[name=password]", PASSWORD)
    erin.click("form button[type=submit]")
    erin.wait_for_load_state()
    if "/reauthenticate/" in erin.url:  # allauth may confirm the password before showing the secret
        erin.fill("input[name=password]", PASSWORD)
        erin.click("button:text-is('Confirm')")
    erin.wait_for_selector("#authenticator_secret")
    secret = erin.input_value("#authenticator_secret")
    assert len(secret) == 32
    assert erin.evaluate("(e => e.scrollWidth <= e.clientWidth)(document.getElementById('authenticator_secret'))"), \
        "the secret field cuts the secret"
    qr = erin.locator("img[alt*='QR code']")
    assert qr.count() == 1 and qr.evaluate("img => img.complete && img.naturalWidth > 0")
    _shot(erin, "readable-05-authenticator-secret-and-qr")
    erin.fill("input[name=code]", totp_code(secret))
    erin.click("button:text-is('Activate')")
    erin.wait_for_load_state()
    assert "/accounts/2fa/totp/activate/" not in erin.url
    assert SERVER_ERRORS == []
