"""Every main page of the portal, as each persona sees it, passes what `_shot` checks on the
story's screens: one h1, a label for every control, no WCAG 2.1 A/AA violation that axe-core
finds, a visible keyboard focus, and a fit at 1280 px and at 390 px (a phone) without
scrolling sideways. The pages are filled: an executed license with a published clip and one
waiting for approval, a talent's evidence waiting at the desk, a guardian's request, a
published story and a viewer. And the check itself fails on a page that breaks it.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.accounts.conftest import with_verified_email
from tests.browser.a11y import check_screen
from tests.browser.test_story import SERVER_ERRORS, _new_page, _shot, browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True)]


def _signed_in(chromium, live_server, user):  # type: ignore[no-untyped-def]
    """A page whose browser holds a session of this user (signed in as the tests' client signs in)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    page = _new_page(chromium)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])
    return page


def _world(personas, tmp_path):  # type: ignore[no-untyped-def]
    """The objects the pages show, and the pages of each persona (name: path)."""
    from accounts.services import totp_enrol
    from consent import desk, services
    from consent.license_templates import license_templates_for_user
    from consent.models import IdentityVerification
    from generation.services import render
    from tests.conftest import SMALL_RENDER, make_license
    from tests.consent.evidence import evidence_files
    from tests.publishing import PROMPT, publish, signed_clip
    from tests.viewers import make_viewer, published_story

    users = (personas.alice, personas.bob, personas.dana, personas.frank, personas.grace)
    for user in users:
        with_verified_email(user)
    for user in (personas.dana, personas.frank, personas.grace):
        totp_enrol(user=user)
    license = make_license(personas, requires_use_approval=True, interactive=True, max_renders=50)
    job = render.render_job_request(license_id=str(license.id), prompt=PROMPT, params=SMALL_RENDER,
                                    acting_user=personas.bob)
    render.render_job_decide(job=job, approve=True, reason="", acting_user=personas.alice)
    publish(render.render_job_claim(job_id=str(job.id), worker="w1"),
            signed_clip(tmp_path / "clip", license_id=str(license.id)))
    render.render_job_request(license_id=str(license.id), prompt=PROMPT, params=SMALL_RENDER, acting_user=personas.bob)
    story = published_story(personas, license)
    viewer = make_viewer(django_user_model=type(personas.bob), name="vera")

    from django.contrib.auth import get_user_model

    maya = get_user_model().objects.create_user(username="maya")
    newcomer = services.talent_enrol(user=maya, display_name="Maya Okafor", acting_user=maya)
    verification = desk.identity_verification_request(talent=newcomer, method=IdentityVerification.Method.DOCUMENT,
                                                      acting_user=maya)
    files = evidence_files()
    for kind in ("id_document", "consent_capture"):
        name, data = files[kind]
        desk.identity_evidence_add(verification=verification, kind=kind, data=data, filename=name, acting_user=maya)
    ife = with_verified_email(get_user_model().objects.create_user(username="ife"))
    representation = desk.representation_request(talent=newcomer, representative=ife, kind="agent", acting_user=maya)

    lic = f"/licenses/{license.id}/"
    pages = {
        None: {"sign-in": reverse("login"), "sign-up": reverse("account_signup"), "verify": reverse("verify"),
               "password-reset": reverse("account_reset_password"), "not-found": "/no-such-page/"},
        personas.alice: {"home": "/", "verification": "/verification/", "my-likeness": "/me/likeness/",
                         "photos": "/me/photos/", "export": "/me/export/", "erase": "/me/erase/",
                         "representatives": "/me/representatives/", "license": lic, "revoke": f"{lic}revoke/",
                         "renders": "/renders/", "email": reverse("account_email"), "two-factor": reverse("mfa_index")},
        personas.bob: {"home": "/", "renders": "/renders/", "license": lic, "stories": "/stories/",
                       "story-new": "/stories/new/", "story": f"/stories/{story.id}/"},
        personas.dana: {"home": "/", "invitations": "/invitations/", "templates": "/templates/",
                        "template-new": "/templates/new/", "license-new": "/licenses/new/", "license": lic,
                        "template": f"/templates/{license_templates_for_user(user=personas.dana).first().id}/",
                        "suspend": f"{lic}suspend/", "audit-log": "/audit/", "report": "/reports/compliance/"},
        personas.frank: {"home": "/", "desk": "/desk/", "verification": f"/desk/verifications/{verification.id}/",
                         "representation": f"/desk/representations/{representation.id}/"},
        ife: {"home": "/", "representations": "/representations/",
              "representation": f"/representations/{representation.id}/"},
        viewer.user: {"home": "/", "star": f"/stories/{story.id}/star/"},
    }
    return pages


ROLE_NAMES = {"alice": "talent", "bob": "producer", "dana": "legal", "frank": "desk", "ife": "guardian",
              "vera": "viewer"}


def test_every_main_page_of_every_persona_is_accessible_and_fits_a_phone(
        browser, live_server, personas, tmp_path, settings):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path / "media"
    SERVER_ERRORS.clear()
    problems = {}
    for user, pages in _world(personas, tmp_path).items():
        page = _signed_in(browser, live_server, user) if user else _new_page(browser)
        who = ROLE_NAMES[user.username] if user else "visitor"
        for name, path in pages.items():
            response = page.goto(f"{live_server.url}{path}")
            expected = 404 if name == "not-found" else 200
            if response is None or response.status != expected or (user and "/accounts/login/" in page.url):
                problems[f"{who} {path}"] = f"answered {response and response.status} at {page.url}"
                continue
            try:
                _shot(page, f"{who}-{name}")
            except AssertionError as failed:
                problems[f"{who} {path}"] = str(failed)
        page.context.close()
    assert problems == {}, "\n\n".join(f"{where}: {problem}" for where, problem in problems.items())
    assert SERVER_ERRORS == []


PLANTED = {
    "an unlabelled control": ("document.querySelector('main').append(document.createElement('input'))",
                              "WCAG 2.1 A/AA violations at 1280 px:\nlabel"),
    "pale grey on white": ("document.querySelector('h1').style.color = '#bbb'",
                       "color-contrast"),
    "a focus without an outline": (
        "document.head.insertAdjacentHTML('beforeend', '<style>:focus-visible { outline: none !important }</style>')",
        "keyboard focus is not visible"),
    "a word wider than a phone": (
        "document.querySelector('main').insertAdjacentHTML('beforeend', '<p>' + 'x'.repeat(80) + '</p>')",
        "wider than a 390 px window"),
}


@pytest.mark.parametrize("planted", PLANTED)
def test_the_check_fails_on_a_page_that_breaks_it(browser, live_server, planted):  # noqa: F811
    script, message = PLANTED[planted]
    page = _new_page(browser)
    page.goto(f"{live_server.url}/verify/")
    check_screen(page, "verify")
    page.evaluate(script)
    with pytest.raises(AssertionError, match=message):
        check_screen(page, "verify")
    page.context.close()
