"""Portal forms are safe to submit twice: the second post of one rendered form does nothing again.

Every form that posts carries a `submission_token`, a fresh random value each time the form is
drawn (`{% form_tokens %}`, which also writes the CSRF field). `SubmitOnceMiddleware` lets the
first post carrying a token claim it in its own committed row (`FormSubmission`, unique on the
token) and run the view. A repeat of that post does not run the view again: it waits for the
first to finish (briefly), then is sent where the first one went, with a message.

Only a post that did something keeps its claim, and for the portal that is one answered with
a redirect (post, redirect, get). A claim is released, so that the person can correct the
form and send it again, when the view answers anything else (the form again with its
errors, a refusal, an error), when it sends them to sign in, or when the view calls
`submission_not_done` (a step-up refusal: they confirm it is them, then send the form again).

A post without a token (an API client, a test) is not checked. The API has its own,
client-chosen keys (core.api.idempotency), which replay a stored JSON answer; here the
server picks the key, the person may not be signed in yet, and the answer to replay is a
place to go. Claims are kept a day.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from core.models import FormSubmission

FIELD = "submission_token"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{20,64}")
WAIT_SECONDS = 15.0
POLL_SECONDS = 0.05
# A claim still running after this long belongs to a request that died: the next post takes it over.
ABANDONED_AFTER = timedelta(minutes=5)
KEPT_FOR = timedelta(days=1)
API_PREFIX = "/api/"
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
REDIRECTS = (301, 302, 303, 307, 308)
ALREADY_SUBMITTED = "This form was already submitted."
_NOT_DONE = "_submission_not_done"


def new_submission_token() -> str:
    return secrets.token_urlsafe(32)


def submission_not_done(request: HttpRequest) -> None:
    """Tell the check that this post changed nothing although it answers with a redirect, so
    the same form may be sent again (e.g. after confirming a step-up)."""
    setattr(request, _NOT_DONE, True)


class SubmitOnceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _token_of(request)
        if token is None:
            return self.get_response(request)
        claim = _claim_or_wait(request, token)
        if isinstance(claim, HttpResponse):
            return claim
        try:
            response = self.get_response(request)
        except BaseException:
            claim.delete()
            raise
        location = _outcome(request, response)
        if location is None:
            claim.delete()
        else:
            FormSubmission.objects.filter(pk=claim.pk).update(state=FormSubmission.State.DONE, location=location)
        return response


def _token_of(request: HttpRequest) -> str | None:
    # The API's uploads are left to DRF unread: its clients send Idempotency-Key instead.
    if (request.method != "POST" or request.content_type not in FORM_CONTENT_TYPES
            or request.path.startswith(API_PREFIX)):
        return None
    token = request.POST.get(FIELD, "")
    return token if TOKEN_PATTERN.fullmatch(token) else None


def _claim_or_wait(request: HttpRequest, token: str) -> FormSubmission | HttpResponse:
    """Claim the token, or answer the repeat once the post that claimed it has finished."""
    user = request.user if getattr(request, "user", None) is not None and request.user.is_authenticated else None
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            with transaction.atomic():
                claim = FormSubmission.objects.create(token=token, user=user, path=request.path[:300])
        except IntegrityError:
            pass
        else:
            FormSubmission.objects.filter(created_at__lt=timezone.now() - KEPT_FOR).delete()
            return claim
        first = FormSubmission.objects.filter(token=token).first()
        if first is None:
            continue  # released while we looked: this post may run
        if first.state == FormSubmission.State.DONE:
            return _already_submitted(request, first, user)
        if first.created_at < timezone.now() - ABANDONED_AFTER:
            FormSubmission.objects.filter(pk=first.pk, state=FormSubmission.State.RUNNING).delete()
            continue
        if time.monotonic() >= deadline:
            messages.info(request, "This form was already submitted and is still being processed.")
            return _see_other(_form_page(request))
        time.sleep(POLL_SECONDS)


def _outcome(request: HttpRequest, response: HttpResponse) -> str | None:
    """Where a post that did something sent the person; None when it did nothing."""
    if getattr(request, _NOT_DONE, False):
        return None
    if response.status_code in REDIRECTS:
        location = response.get("Location", "")
    elif 200 <= response.status_code < 300 and response.has_header("HX-Redirect"):
        location = response["HX-Redirect"]
    else:
        return None
    if not location or urlsplit(location).path == urlsplit(resolve_url(settings.LOGIN_URL)).path:
        return None
    return location


def _already_submitted(request: HttpRequest, first: FormSubmission, user: object) -> HttpResponse:
    # Where the first post went is told only to whoever sent it.
    same_sender = first.user_id is None or user is None or first.user_id == getattr(user, "pk", None)
    location = first.location if same_sender else "/"
    messages.info(request, ALREADY_SUBMITTED)
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = location
        return response
    return _see_other(location)


def _form_page(request: HttpRequest) -> str:
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
        return referer
    return "/"


def _see_other(location: str) -> HttpResponse:
    response = HttpResponseRedirect(location)
    response.status_code = 303
    return response
