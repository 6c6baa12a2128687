"""MFA is required of legal and staff users: without an authenticator app they can only enrol one.

allauth has no "MFA required" setting, so this middleware enforces it. Talent are not
stopped here: `core.stepup` demands MFA when they sign, revoke, approve or erase.
It sees the session user only: an API authenticated by token (after the middleware has
run) applies `accounts.mfa.mfa_enrolment_required` to its own user.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.mfa import mfa_enrolment_required
from core.stepup import MFAEnrolmentRequired
from core.api.errors import application_error_response, wants_json

# allauth's pages (sign-in, sign-out, email, MFA enrolment, reauthentication) live under
# /accounts/; the health check and the public verify pages need no account at all.
EXEMPT_PREFIXES = ("/accounts/", "/healthz", "/verify/")


class MFARequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.exempt = EXEMPT_PREFIXES + ("/" + settings.STATIC_URL.lstrip("/"),)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(self.exempt):
            return self.get_response(request)
        if not mfa_enrolment_required(request.user):
            request.mfa_enrolment_checked_for = request.user.pk  # the API's permission need not ask again
            return self.get_response(request)
        if wants_json(request):
            return application_error_response(
                MFAEnrolmentRequired("Set up an authenticator app for your account (in the portal) first."))
        return HttpResponseRedirect(reverse("mfa_activate_totp"))
