"""The product's own error pages and messages, in Debian's Chromium driven by Playwright.

In development (DEBUG on, as under `./dev run`), producer Charlie of another studio opens a
license of Northlight's and an address that does not exist: both are the portal's "Not found"
page, never Django's page listing the URL patterns. Someone checking files on the public verify
page faster than its limit is shown the verify page again with what happened and in how many
seconds to try again (status 429 and Retry-After), not a JSON body. Legal Dana asking for a
compliance report with its end before its start sees only the error, no count of outputs.
Bob mistypes his password eleven times: his account waits, and Dana signs in from the same
address a moment later.
"""

from __future__ import annotations

import pytest

from tests.accounts.conftest import with_verified_email
from tests.browser.test_story import SERVER_ERRORS, _new_page, _shot, _sign_in, browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_in_development_an_object_out_of_scope_is_the_portals_not_found_page(
        browser, live_server, personas, active_license, settings, empty_cache):  # noqa: F811
    settings.DEBUG = True
    with_verified_email(personas.charlie)
    page = _sign_in(browser, live_server, personas.charlie, None)
    for address in (f"/licenses/{active_license.id}/", "/no-such-page/"):
        response = page.goto(f"{live_server.url}{address}")
        assert response.status == 404, address
        assert page.locator("h1").inner_text() == "Not found", address
        body = page.content()
        assert "URLconf" not in body and "Django" not in body and "DEBUG" not in body, address
        assert page.locator("header a:text-is('Verify a file')").count() == 1, "the portal's own frame"
    _shot(page, "error-404")


def test_a_check_over_the_verify_limit_shows_the_verify_page_with_when_to_retry(
        browser, live_server, settings, tmp_path, empty_cache):  # noqa: F811
    settings.BESPOKE_VERIFY_UPLOADS_PER_MINUTE = 1
    SERVER_ERRORS.clear()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    page = _new_page(browser)
    page.goto(f"{live_server.url}/verify/")
    statuses = []
    for _ in range(2):
        page.set_input_files("input[name=file]", str(notes))
        with page.expect_response(lambda response: response.request.method == "POST") as answer:
            page.click("button:text-is('Check')")
        page.wait_for_load_state()
        statuses.append((answer.value.status, answer.value.headers.get("retry-after")))
    assert statuses[0] == (400, None)
    status, retry_after = statuses[1]
    assert status == 429 and 1 <= int(retry_after) <= 60
    assert page.locator("h1").inner_text() == "Verify a file"
    alert = page.locator("[role=alert]").inner_text()
    assert "Too many requests" in alert and f"try again in {retry_after} second" in alert
    assert page.locator("input[name=file]").count() == 1, "the form, ready for the next try"
    assert '"code"' not in page.content() and "rate_limited" not in page.content()
    assert SERVER_ERRORS == []
    _shot(page, "verify-rate-limited")


def test_an_invalid_report_period_shows_only_the_error(browser, live_server, personas, empty_cache):  # noqa: F811
    from accounts.services import totp_enrol

    with_verified_email(personas.dana)
    page = _sign_in(browser, live_server, personas.dana, totp_enrol(user=personas.dana))
    response = page.goto(f"{live_server.url}/reports/compliance/?start=2026-12-31&end=2026-01-01")
    assert response.status == 400
    assert page.locator(".errorlist").count() >= 1
    assert "published output" not in page.locator("main").inner_text()
    _shot(page, "report-invalid-period")
    valid = page.goto(f"{live_server.url}/reports/compliance/?start=2026-01-01&end=2026-12-31")
    assert valid.status == 200 and "0 published output(s)" in page.locator("main").inner_text()


def test_one_persons_mistyped_passwords_lock_their_account_not_a_colleagues_at_the_same_address(
        browser, live_server, personas, empty_cache):  # noqa: F811
    from tests.accounts.conftest import PASSWORD

    for user in (personas.bob, personas.dana):
        with_verified_email(user)
    page = _new_page(browser)

    def sign_in(username: str, password: str) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=login]", username)
        page.fill("input[name=password]", password)
        page.click("form button[type=submit]")
        page.wait_for_load_state()

    for attempt in range(11):  # more than the address's old limit of 10 a minute
        sign_in("bob", f"wrong-{attempt}")
    sign_in("bob", PASSWORD)
    assert "Too many failed login attempts" in page.inner_text("main"), "Bob's account waits"
    _shot(page, "sign-in-account-locked")
    sign_in("dana", PASSWORD)  # a colleague at the same address, a moment later
    assert "/accounts/login/" not in page.url and "Too many" not in page.content()
