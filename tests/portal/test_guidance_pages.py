"""Guidance on the portal's pages: a form refused for a step-up comes back as it was filled
in once the person has confirmed it is them; a render says it is queued or starting before
it counts steps."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from generation.models import RenderJob
from generation.services import render as renders
from tests.accounts.conftest import totp_code
from tests.conftest import SMALL_RENDER, make_license
from tests.portal.people import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_cache(empty_cache):  # type: ignore[no-untyped-def]
    """Used TOTP codes live in the cache: each test starts empty."""


def _kept(page: str) -> dict | None:
    match = re.search(r'<script id="kept-form" type="application/json">(.*?)</script>', page, re.DOTALL)
    return json.loads(match.group(1)) if match else None


def test_a_form_refused_for_a_step_up_comes_back_as_filled_in_once_confirmed(personas):
    from accounts.services import totp_enrol

    license = make_license(personas, signed=False, countersigned=False)
    page_url = reverse("portal-license", args=[license.id])
    sign_url = reverse("portal-license-sign", args=[license.id])
    alice = signed_in(personas.alice)  # signed in long enough ago that signing asks again
    response = alice.post(sign_url, {"text_sha256": license.text_sha256, "disclosure_accepted": "on",
                                     "csrfmiddlewaretoken": "x"}, HTTP_REFERER=f"http://testserver{page_url}")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/reauthenticate/")
    assert _kept(alice.get(page_url).content.decode()) is None, "not before she has confirmed it is her"

    code = totp_code(totp_enrol(user=personas.alice))
    assert alice.post("/accounts/2fa/reauthenticate/", {"code": code}).status_code == 302
    assert _kept(alice.get(reverse("portal-renders")).content.decode()) is None, "only on the form's page"
    page = alice.get(page_url).content.decode()
    assert _kept(page) == {"action": sign_url, "fields": {"text_sha256": [license.text_sha256],
                                                          "disclosure_accepted": ["on"]}}
    assert "What you entered is back in the form" in page  # said once the page's script has filled it in
    assert "Fill in the form again, then submit it." in page  # said where scripts do not run
    assert _kept(alice.get(page_url).content.decode()) is None, "given once"


def test_a_render_is_queued_then_starting_before_it_counts_steps(personas):
    license = make_license(personas)
    job = renders.render_job_request(license_id=str(license.id), prompt="sks person at the night market",
                                     params=SMALL_RENDER, acting_user=personas.bob)
    bob = signed_in(personas.bob)
    url = reverse("portal-render-progress", args=[job.id])
    assert "Queued: waiting for a worker to start it" in bob.get(url).content.decode()
    RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.RUNNING, attempt=1)
    fragment = bob.get(url).content.decode()
    assert "Starting: loading the model" in fragment and "step 0 of 0" not in fragment
    RenderJob.objects.filter(pk=job.pk).update(progress_step=2, progress_total=3)
    assert "step 2 of 3" in bob.get(url).content.decode()
