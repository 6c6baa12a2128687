"""Each portal button that creates or changes something acts once, however often it is pressed.

In Debian's Chromium, every such button of the main flows is double-clicked, and the same
form is also sent once more behind the page's back (a copy posted with fetch, as a second
press the page's script never saw would be): legal Dana invites a talent, creates a
template and drafts and offers a license from it; Alice signs it; producer Bob requests a
render; Alice sees one approval card and approves it; she uploads a reference photo and
revokes her license; a new talent, Noor, asks for identity verification and uploads her
evidence. Each leaves one record, and no page shows an error.
"""

from __future__ import annotations

import time

import pytest

from bespoke.synthetic_faces import synthetic_face_photos
from tests.accounts.conftest import with_verified_email
from tests.browser.test_story import SERVER_ERRORS, USED_CODES, _sign_in, browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True)]

SEND_A_COPY = """button => {
  const form = button.form;
  fetch(form.getAttribute("action") || location.href,
        {method: "POST", body: new FormData(form, button), credentials: "same-origin", redirect: "manual"});
}"""
SETTLE_SECONDS = 1.5  # every copy has reached the server and been answered
# Counts the submissions the page itself lets through (the tab's session storage outlives the page).
COUNT_SUBMISSIONS = """() => {
  sessionStorage.setItem("sent", "0");
  window.addEventListener("submit", event => {
    if (!event.defaultPrevented) { sessionStorage.setItem("sent", String(Number(sessionStorage.getItem("sent")) + 1)); }
  });
}"""


def _press_twice_and_send_a_copy(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    page.evaluate(COUNT_SUBMISSIONS)
    page.locator(selector).evaluate(SEND_A_COPY)
    with page.expect_navigation():  # the page the form leads to, however slow the server
        page.dblclick(selector)
    time.sleep(SETTLE_SECONDS)
    page.wait_for_load_state()
    assert page.evaluate("sessionStorage.getItem('sent')") == "1", "the page sends the form once"
    assert page.locator(".messages .error, .errorlist").count() == 0, page.inner_text("main")


def test_each_button_that_changes_something_acts_once_when_pressed_twice(
        browser, live_server, personas, django_user_model, tmp_path):  # noqa: F811 (browser: the fixture)
    from accounts.models import Invitation
    from accounts.services import totp_enrol
    from audit.models import AuditEvent
    from consent.models import (IdentityEvidence, IdentityVerification, LicenseRevocation, LicenseTemplate,
                                LikenessLicense, ReferencePhoto)
    from consent.services import talent_enrol
    from generation.models import RenderJob
    from tests.conftest import make_license

    SERVER_ERRORS.clear()
    USED_CODES.clear()
    for user in (personas.alice, personas.bob, personas.dana):
        with_verified_email(user)
    alice_secret, dana_secret = totp_enrol(user=personas.alice), totp_enrol(user=personas.dana)
    in_force = make_license(personas, requires_use_approval=True)
    url = live_server.url

    dana = _sign_in(browser, live_server, personas.dana, dana_secret)
    dana.goto(f"{url}/invitations/")
    dana.check("input[name=kind][value=talent]")
    dana.fill("input[name=display_name]", "Maya Okafor")
    dana.fill("input[name=email]", "maya@example.com")
    _press_twice_and_send_a_copy(dana, "button:text-is('Send invitation')")
    assert Invitation.objects.filter(email="maya@example.com").count() == 1

    dana.goto(f"{url}/templates/new/")
    dana.fill("input[name=name]", "Music video, six months")
    dana.fill("textarea[name=use_description]", "Lead role in a music video: performance and close-ups.")
    dana.fill("input[name=term_months]", "6")
    dana.check("input[name=permitted_media][value=video]")
    dana.fill("input[name=territories]", "worldwide")
    dana.fill("input[name=languages]", "en")
    dana.fill("input[name=max_renders]", "10")
    dana.fill("input[name=compensation_rate]", "900")
    dana.fill("input[name=compensation_currency]", "EUR")
    _press_twice_and_send_a_copy(dana, "button:text-is('Create the template')")
    assert LicenseTemplate.objects.filter(name="Music video, six months").count() == 1, dana.inner_text("main")
    template = LicenseTemplate.objects.get(name="Music video, six months")

    dana.goto(f"{url}/licenses/new/?template={template.id}&talent={personas.talent.id}")
    dana.fill("input[name=project]", "Night Market video")
    dana.fill("input[name=role]", "Singer")
    dana.check("input[name=offer]")
    _press_twice_and_send_a_copy(dana, "button:text-is('Draft the license')")
    offered = LikenessLicense.objects.get(project="Night Market video")
    assert offered.status == "offered"

    alice = _sign_in(browser, live_server, personas.alice, alice_secret)
    alice.goto(f"{url}/licenses/{offered.id}/")
    alice.check("input[name=disclosure_accepted]")
    _press_twice_and_send_a_copy(alice, "button:text-is('Sign')")
    offered.refresh_from_db()
    assert offered.status == "signed"
    assert AuditEvent.objects.filter(action="license.signed", subject=f"license:{offered.id}").count() == 1

    bob = _sign_in(browser, live_server, personas.bob, None)
    bob.goto(f"{url}/licenses/{in_force.id}/")
    bob.fill("textarea[name=prompt]", "sks person walking through the night market")
    _press_twice_and_send_a_copy(bob, "button:text-is('Request render')")
    assert RenderJob.objects.filter(license_id=in_force.id).count() == 1

    alice.goto(f"{url}/")
    assert alice.locator("button:text-is('Approve this use')").count() == 1  # one approval card
    _press_twice_and_send_a_copy(alice, "button:text-is('Approve this use')")
    job = RenderJob.objects.get(license_id=in_force.id)
    assert job.status == "queued"  # approved, not declined: the pressed button's name and value were sent
    assert AuditEvent.objects.filter(action="use.approved", subject=f"license:{in_force.id}").count() == 1

    photo = tmp_path / "alice.jpg"
    photo.write_bytes(synthetic_face_photos(1, seed=11)[0])
    photos_before = ReferencePhoto.objects.filter(talent=personas.talent).count()
    alice.goto(f"{url}/me/photos/")
    alice.set_input_files("input[name=photo]", str(photo))
    _press_twice_and_send_a_copy(alice, "button:text-is('Upload')")
    assert ReferencePhoto.objects.filter(talent=personas.talent).count() == photos_before + 1

    alice.goto(f"{url}/licenses/{in_force.id}/revoke/")
    alice.fill("textarea[name=reason]", "I no longer consent.")
    _press_twice_and_send_a_copy(alice, "button:text-is('Revoke now')")
    assert LicenseRevocation.objects.filter(license_id=in_force.id).count() == 1
    assert AuditEvent.objects.filter(action="license.revoked", subject=f"license:{in_force.id}").count() == 1

    # A new talent asks for identity verification and uploads her evidence.
    noor = with_verified_email(django_user_model.objects.create_user(username="noor"))
    newcomer = talent_enrol(user=noor, display_name="Noor Haddad", acting_user=noor)
    noor_page = _sign_in(browser, live_server, noor, totp_enrol(user=noor))
    noor_page.goto(f"{url}/verification/")
    noor_page.select_option("select[name=method]", "document")
    _press_twice_and_send_a_copy(noor_page, "button:text-is('Ask for verification')")
    assert IdentityVerification.objects.filter(talent=newcomer).count() == 1
    document = tmp_path / "id-card.jpg"
    document.write_bytes(synthetic_face_photos(1, seed=5)[0])
    noor_page.select_option("select[name=kind]", "id_document")
    noor_page.set_input_files("input[name=file]", str(document))
    _press_twice_and_send_a_copy(noor_page, "button:text-is('Upload')")
    assert IdentityEvidence.objects.filter(verification__talent=newcomer).count() == 1

    assert SERVER_ERRORS == []
