"""Step-up authentication: the one place that decides whether a high-risk action may proceed.

High-risk actions call `require_step_up(request, require_mfa=True)` before they change
anything:

- talent: sign a license, revoke a license, approve or decline a use, erase their data;
- legal: countersign a license;
- verifiers: decide an identity verification or a representation;
- talent and representatives: end a representation.

The request passes when it carries a fresh proof of the user's presence:

- an `X-Bespoke-OTP` header with a current code from the user's authenticator app (or an
  unused recovery code), for API clients, on a state-changing method only; it is checked
  by allauth's MFA reauthentication form, so failed codes count against allauth's
  `login_failed` rate limit, a code is good only once, and a good code is recorded in the
  session as an MFA reauthentication;
- otherwise, for a session signed in as that user (never a token client, whose every
  step-up action needs its own code), an authentication recorded in the session within
  `max_age_seconds` (default ACCOUNT_REAUTHENTICATION_TIMEOUT): signing in, or allauth's reauthentication
  pages (see `reauthentication_url`). A user with an authenticator app must have used it:
  a password alone is not enough for them, and a user without a usable password must
  enrol one.

Pass the request whose `user` is the acting user (in a DRF view, DRF's request, so that
token-authenticated users count). A refusal raises `StepUpRequired` or
`MFAEnrolmentRequired` (both ApplicationError, so API views answer them like any other
service error; the portal sends the user to `reauthentication_url` or to MFA enrolment).

Every step-up action goes through one of two doors, so the rule above is applied the same way:

- an API action calls `step_up_api(request)` with DRF's request, after scoping and validating
  its input and before its service; a refusal is an ApplicationError like any other;
- a portal view is decorated with `@step_up_required`, which checks before the view runs, once
  its `scope` has answered 404 to anyone outside it (for a POST, or only when `when` says the
  submission needs it), and turns a refusal into the page that satisfies it (MFA enrolment,
  or allauth's reauthentication and back to the form, filled in as it was: `kept_submission`);
  the view reads how the user proved it from `request.step_up_method`.

Who must enrol an authenticator app before anything else is a rule about roles:
`accounts.mfa.mfa_enrolment_required`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from allauth.account.authentication import get_authentication_records
from allauth.core import context
from allauth.mfa.base.forms import ReauthenticateForm
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from core.errors import ApplicationError
from core.submit_once import submission_not_done

if TYPE_CHECKING:
    from rest_framework.request import Request

OTP_HEADER = "X-Bespoke-OTP"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
# A form post refused for a step-up, kept until the person is back on the page that holds the form.
KEPT_FORM_SESSION_KEY = "bespoke_step_up_form"
# Never carried back into a form: secrets, and the CSRF token each page renders afresh.
NOT_KEPT = frozenset({"csrfmiddlewaretoken", "password", "code"})


class StepUpRequired(ApplicationError):
    code = "reauthentication_required"


class MFAEnrolmentRequired(ApplicationError):
    code = "mfa_required"


def totp_authenticators(user_pk: object) -> QuerySet[Authenticator]:
    """The user's authenticator apps (TOTP): what counts as enrolled MFA."""
    return Authenticator.objects.filter(user_id=user_pk, type=Authenticator.Type.TOTP)


def user_has_mfa(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether the user has an authenticator app (TOTP) enrolled."""
    return bool(user.is_authenticated and totp_authenticators(user.pk).exists())


def require_step_up(request: HttpRequest, *, require_mfa: bool = False, max_age_seconds: int | None = None) -> str:
    """Raise unless the request proves a recent authentication; return how it did ("mfa" or "password")."""
    user = request.user
    if not user.is_authenticated:
        raise StepUpRequired("Sign in to do this.")
    has_mfa = user_has_mfa(user)
    # Without a usable password, only an authenticator app can prove it is still them.
    if not has_mfa and (require_mfa or not user.has_usable_password()):
        raise MFAEnrolmentRequired("Set up an authenticator app for your account before doing this.")
    code = request.headers.get(OTP_HEADER)
    if code is not None:
        _check_otp(request, user, code, has_mfa=has_mfa)
        return "mfa"
    max_age = settings.ACCOUNT_REAUTHENTICATION_TIMEOUT if max_age_seconds is None else max_age_seconds
    if max_age <= 0:
        raise ValueError("max_age_seconds must be positive")
    if not _signed_in_by_session(request, user):
        # A token client proves presence on each request: a session cookie that an earlier
        # code left behind is not a sign-in, so it vouches for nothing.
        raise StepUpRequired(f"Send a current code from your authenticator app in the {OTP_HEADER} header.")
    accepted = "mfa" if has_mfa else "password"
    oldest = time.time() - max_age
    if any(record.get("method") == accepted and record.get("at", 0) > oldest
           for record in get_authentication_records(request, user)):
        return accepted
    if has_mfa:
        raise StepUpRequired("Confirm it is you with a code from your authenticator app.")
    raise StepUpRequired("Confirm it is you by entering your password again.")


def _signed_in_by_session(request: HttpRequest, user: AbstractBaseUser) -> bool:
    return str(request.session.get(SESSION_KEY, "")) == str(user.pk)


def _check_otp(request: HttpRequest, user: AbstractBaseUser, code: str, *, has_mfa: bool) -> None:
    # allauth's rate limit skips safe methods, so a code sent with one would be a free guess.
    if not has_mfa or request.method in SAFE_METHODS:
        raise StepUpRequired(f"A {OTP_HEADER} code is only accepted on a state-changing request of a user "
                             "with an authenticator app.")
    with context.request_context(request):
        form = ReauthenticateForm(user=user, data={"code": code.strip()})
        if not form.is_valid():
            raise StepUpRequired(" ".join(form.errors.get("code", [])) or "The code is not valid.", field=OTP_HEADER)
        form.save()


def reauthentication_url(request: HttpRequest, *, next_url: str) -> str:
    """Where to send a portal user refused by `require_step_up`: allauth's MFA reauthentication
    page when they have an authenticator app, the password one otherwise; both return to next_url."""
    name = "mfa_reauthenticate" if user_has_mfa(request.user) else "account_reauthenticate"
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


# --- the two doors: the API's and the portal's -------------------------------------------------

def step_up_api(request: Request) -> str:
    """An API action's step-up (MFA required): call it with DRF's request, before the service.

    DRF has authenticated the request by the time an action runs, so the Django request it
    wraps carries the same user (a token client included)."""
    request.user  # noqa: B018 - make sure DRF has authenticated (and set the wrapped request's user)
    return require_step_up(request._request, require_mfa=True)


PortalView = Callable[..., HttpResponse]


def step_up_required(view: PortalView | None = None, *, scope: Callable[..., object] | None = None,
                     methods: tuple[str, ...] = ("POST",), when: Callable[[HttpRequest], bool] | None = None,
                     require_mfa: bool = True, keep_form: bool = True) -> Any:
    """Decorate a portal view whose `methods` (POST by default) are a step-up action (MFA
    required); `when`, if given, narrows it to the submissions that need it.

    `scope(request, *args, **kwargs)`, if given, runs first with the view's arguments and
    raises Http404 outside the user's scope, so that someone who may not see the page gets a
    404, not a confirmation. Then the check runs, before the view; a refusal sends the user
    to MFA enrolment, or to allauth's reauthentication page and back to the page that holds
    the form. A view reads how the user proved it from `request.step_up_method` ("" when the
    check did not apply). `require_mfa=False` accepts a fresh password where no authenticator
    is enrolled (a viewer consenting to star in a story). `keep_form=False` gives the form back
    empty after the confirmation, for forms whose fields should not wait in the session (the
    desk's identity facts)."""

    def decorate(view: PortalView) -> PortalView:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            request.step_up_method = ""  # type: ignore[attr-defined]
            try:
                if request.method in methods and (when is None or when(request)):
                    if scope is not None:
                        scope(request, *args, **kwargs)
                    request.step_up_method = require_step_up(  # type: ignore[attr-defined]
                        request, require_mfa=require_mfa)
                return view(request, *args, **kwargs)
            except MFAEnrolmentRequired as refusal:
                submission_not_done(request)
                messages.warning(request, refusal.message)
                return redirect("mfa_activate_totp")
            except StepUpRequired:
                submission_not_done(request)
                page = _page_to_return_to(request)
                if request.method == "POST" and keep_form:
                    _keep_submission(request, page)
                return redirect(reauthentication_url(request, next_url=page))

        return wrapper

    return decorate if view is None else decorate(view)


def _page_to_return_to(request: HttpRequest) -> str:
    """After re-authenticating, a GET comes back to itself; a form post to the page that holds
    the form (a POST-only address cannot be reopened), where the person submits it again."""
    if request.method == "GET":
        return request.get_full_path()
    messages.info(request, "Once you have confirmed it is you, submit the form again.")
    referer = request.META.get("HTTP_REFERER", "")
    if url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        parts = urlsplit(referer)
        if parts.path.startswith("/") and not parts.path.startswith("//"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.get_full_path()


def _keep_submission(request: HttpRequest, page: str) -> None:
    request.session[KEPT_FORM_SESSION_KEY] = {
        "page": urlsplit(page).path, "action": request.path, "at": time.time(),
        "fields": {name: request.POST.getlist(name) for name in request.POST if name not in NOT_KEPT}}


def kept_submission(request: HttpRequest) -> dict[str, Any] | None:
    """The form post that a step-up refused, once the person has confirmed it is them since
    and is back on the page that holds the form: {"action": the form's path, "fields": {name:
    [values]}}, so that the page shows the form as they had filled it in. Given once."""
    kept = request.session.get(KEPT_FORM_SESSION_KEY)
    if not isinstance(kept, dict) or kept.get("page") != request.path or not request.user.is_authenticated:
        return None
    refused_at = kept.get("at", 0)
    if refused_at < time.time() - settings.ACCOUNT_REAUTHENTICATION_TIMEOUT:
        del request.session[KEPT_FORM_SESSION_KEY]
        return None
    if not any(record.get("at", 0) > refused_at for record in get_authentication_records(request, request.user)):
        return None
    del request.session[KEPT_FORM_SESSION_KEY]
    return {"action": kept["action"], "fields": kept["fields"]}
