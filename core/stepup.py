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

Who must enrol an authenticator app before anything else is a rule about roles:
`accounts.mfa.mfa_enrolment_required`.
"""

from __future__ import annotations

import time

from allauth.account.authentication import get_authentication_records
from allauth.core import context
from allauth.mfa.base.forms import ReauthenticateForm
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from core.errors import ApplicationError

OTP_HEADER = "X-Bespoke-OTP"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


class StepUpRequired(ApplicationError):
    code = "reauthentication_required"


class MFAEnrolmentRequired(ApplicationError):
    code = "mfa_required"


def user_has_mfa(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether the user has an authenticator app (TOTP) enrolled."""
    return bool(user.is_authenticated
                and Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists())


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
