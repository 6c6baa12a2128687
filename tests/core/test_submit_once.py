"""A portal form sent twice does its work once (core.submit_once): the first post with a
form's token runs, a repeat is sent where the first went; a post that did nothing (errors,
a step-up to confirm first) leaves the form free to be sent again."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpResponseRedirect
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from core.models import FormSubmission
from core.submit_once import ALREADY_SUBMITTED, SubmitOnceMiddleware
from generation.models import RenderJob
from tests.accounts.conftest import totp_code
from tests.conftest import make_license

TOKEN = re.compile(r'name="submission_token" value="([^"]+)"')


def _signed_in(client, user, *, stepped_up: bool = False):  # type: ignore[no-untyped-def]
    from accounts.services import totp_enrol

    secret = totp_enrol(user=user)
    client.force_login(user)
    if stepped_up:
        assert client.post("/accounts/2fa/reauthenticate/", {"code": totp_code(secret)}).status_code == 302
    return client, secret


def _tokens(client, url: str) -> list[str]:  # type: ignore[no-untyped-def]
    return TOKEN.findall(client.get(url).content.decode())


def _render_form_token(client, license) -> str:  # type: ignore[no-untyped-def]
    page = client.get(reverse("portal-license", kwargs={"license_id": license.id})).content.decode()
    form = page.split(reverse("portal-render-request", kwargs={"license_id": license.id}), 1)[1]
    return TOKEN.search(form).group(1)


@pytest.mark.django_db
def test_request_render_sent_twice_makes_one_job_and_the_repeat_goes_where_the_first_went(client, personas):
    license = make_license(personas)
    bob, _ = _signed_in(client, personas.bob)
    token = _render_form_token(bob, license)
    form = {"prompt": "sks person crossing a bridge", "num_frames": 4, "steps": 2, "seed": 0,
            "submission_token": token}
    url = reverse("portal-render-request", kwargs={"license_id": license.id})

    first = bob.post(url, form)
    second = bob.post(url, form)

    assert first.status_code == 302 and first["Location"] == reverse("portal-renders")
    assert second.status_code == 303 and second["Location"] == first["Location"]
    assert RenderJob.objects.filter(license_id=license.id).count() == 1
    assert ALREADY_SUBMITTED in bob.get(second["Location"]).content.decode()
    # Each drawing of a form has its own token: a new request from a fresh page is a new job.
    assert _render_form_token(bob, license) != token


@pytest.mark.django_db
def test_every_form_on_a_page_has_its_own_token(client, personas):
    license = make_license(personas)
    bob, _ = _signed_in(client, personas.bob)
    tokens = _tokens(bob, reverse("portal-license", kwargs={"license_id": license.id}))
    assert len(tokens) == 2 and len(set(tokens)) == 2  # "Request render" and "Sign out"


@pytest.mark.django_db
def test_a_form_sent_back_with_errors_can_be_corrected_and_sent_again(client, personas):
    license = make_license(personas)
    bob, _ = _signed_in(client, personas.bob)
    token = _render_form_token(bob, license)
    url = reverse("portal-render-request", kwargs={"license_id": license.id})

    refused = bob.post(url, {"prompt": "", "submission_token": token})
    corrected = bob.post(url, {"prompt": "sks person at a window", "num_frames": 4, "submission_token": token})

    assert refused.status_code == 400 and "Describe the scene to render." in refused.content.decode()
    assert corrected.status_code == 302 and corrected["Location"] == reverse("portal-renders")
    assert RenderJob.objects.filter(license_id=license.id).count() == 1


@pytest.mark.django_db
def test_a_signature_sent_again_after_the_step_up_is_signed_once(client, personas):
    license = make_license(personas, signed=False, countersigned=False)
    alice, secret = _signed_in(client, personas.alice)
    page = reverse("portal-license", kwargs={"license_id": license.id})
    token = TOKEN.search(alice.get(page).content.decode().split("/sign/", 1)[1]).group(1)
    form = {"disclosure_accepted": "on", "text_sha256": license.text_sha256, "submission_token": token}
    sign = reverse("portal-license-sign", kwargs={"license_id": license.id})

    asked = alice.post(sign, form, HTTP_REFERER=f"http://testserver{page}")
    assert "/reauthenticate/" in asked["Location"]
    assert alice.post("/accounts/2fa/reauthenticate/", {"code": totp_code(secret)}).status_code == 302
    signed = alice.post(sign, form)
    repeat = alice.post(sign, form)

    license.refresh_from_db()
    assert signed.status_code == 302 and signed["Location"] == page and license.status == "signed"
    assert repeat.status_code == 303 and repeat["Location"] == page
    assert [m.message for m in get_messages(repeat.wsgi_request)][-1] == ALREADY_SUBMITTED


@pytest.mark.django_db
def test_a_post_without_a_token_is_not_checked(client, personas):
    license = make_license(personas)
    bob, _ = _signed_in(client, personas.bob)
    url = reverse("portal-render-request", kwargs={"license_id": license.id})
    for _ in range(2):
        assert bob.post(url, {"prompt": "sks person waving", "num_frames": 4}).status_code == 302
    assert RenderJob.objects.filter(license_id=license.id).count() == 2


@pytest.mark.django_db
def test_claims_older_than_a_day_are_pruned_when_a_form_is_sent(client, personas):
    stale = FormSubmission.objects.create(token="s" * 43, path="/old/", state=FormSubmission.State.DONE, location="/")
    FormSubmission.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=2))
    license = make_license(personas)
    bob, _ = _signed_in(client, personas.bob)
    bob.post(reverse("portal-render-request", kwargs={"license_id": license.id}),
             {"prompt": "sks person reading", "submission_token": _render_form_token(bob, license)})
    assert not FormSubmission.objects.filter(pk=stale.pk).exists()
    assert FormSubmission.objects.count() == 1


def _post(token: str):  # type: ignore[no-untyped-def]
    request = RequestFactory().post("/renders/new/", {"submission_token": token})
    request.user = AnonymousUser()
    request._messages = CookieStorage(request)
    return request


@pytest.mark.django_db(transaction=True)
def test_a_repeat_that_arrives_while_the_first_runs_waits_for_it_and_follows_it():
    from django.db import connection

    started, finish, calls = threading.Event(), threading.Event(), []

    def view(request):  # type: ignore[no-untyped-def]
        calls.append(request)
        started.set()
        finish.wait(10)
        return HttpResponseRedirect("/renders/42/")

    middleware = SubmitOnceMiddleware(view)
    answers: dict[str, object] = {}

    def send(name: str) -> None:
        try:
            answers[name] = middleware(_post("t" * 43))
        finally:
            connection.close()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert started.wait(10)
    repeat = threading.Thread(target=send, args=("repeat",))
    repeat.start()
    time.sleep(0.5)
    assert repeat.is_alive(), "the repeat waits while the first post runs"
    finish.set()
    first.join(10)
    repeat.join(10)

    assert len(calls) == 1
    assert answers["first"].status_code == 302
    assert answers["repeat"].status_code == 303 and answers["repeat"]["Location"] == "/renders/42/"
    assert FormSubmission.objects.get().location == "/renders/42/"


@pytest.mark.django_db
def test_a_view_that_fails_releases_its_claim():
    def broken(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("storage is down")

    with pytest.raises(RuntimeError):
        SubmitOnceMiddleware(broken)(_post("f" * 43))
    assert not FormSubmission.objects.exists()
    answer = SubmitOnceMiddleware(lambda request: HttpResponseRedirect("/done/"))(_post("f" * 43))
    assert answer.status_code == 302 and FormSubmission.objects.get().location == "/done/"


@pytest.mark.django_db
def test_a_repeat_is_told_where_the_first_went_only_if_it_comes_from_the_same_person(personas):
    first = _post("u" * 43)
    first.user = personas.bob
    SubmitOnceMiddleware(lambda request: HttpResponseRedirect("/renders/7/"))(first)
    for user, location in ((personas.bob, "/renders/7/"), (personas.charlie, "/")):
        repeat = _post("u" * 43)
        repeat.user = user
        answer = SubmitOnceMiddleware(lambda request: pytest.fail("the view ran again"))(repeat)
        assert answer.status_code == 303 and answer["Location"] == location


@pytest.mark.django_db
def test_an_htmx_repeat_is_redirected_the_htmx_way():
    SubmitOnceMiddleware(lambda request: HttpResponseRedirect("/renders/"))(_post("h" * 43))
    repeat = RequestFactory().post("/renders/new/", {"submission_token": "h" * 43}, HTTP_HX_REQUEST="true")
    repeat.user, repeat._messages = AnonymousUser(), CookieStorage(repeat)
    answer = SubmitOnceMiddleware(lambda request: pytest.fail("the view ran again"))(repeat)
    assert answer.status_code == 204 and answer["HX-Redirect"] == "/renders/"


@pytest.mark.django_db
def test_a_forged_cross_site_post_with_a_forms_token_neither_acts_nor_blocks_the_real_form(client, personas):
    """Someone who learnt a form's token posts it from another site (no CSRF token): refused,
    and the claim it made is released, so Bob's own post of that form still acts, once."""
    from django.test import Client

    license = make_license(personas)
    bob, _ = _signed_in(client, personas.bob)
    token = _render_form_token(bob, license)
    url = reverse("portal-render-request", kwargs={"license_id": license.id})
    form = {"prompt": "sks person crossing a bridge", "num_frames": 4, "steps": 2, "seed": 0,
            "submission_token": token}
    forger = Client(enforce_csrf_checks=True)
    forger.force_login(personas.bob)  # the victim's session cookie rides along with a cross-site post

    assert forger.post(url, form).status_code == 403
    assert not FormSubmission.objects.filter(token=token).exists()
    assert RenderJob.objects.count() == 0

    assert bob.post(url, form).status_code == 302
    assert bob.post(url, form).status_code == 303
    assert RenderJob.objects.count() == 1
