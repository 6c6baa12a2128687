"""API-wide permissions."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.mfa import mfa_enrolment_required
from core.stepup import MFAEnrolmentRequired


class MFAEnrolled(BasePermission):
    """Legal and staff accounts act only once they have an authenticator app, whether they
    come with a session (also checked by the portal's middleware) or with an API token."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user.is_authenticated:
            return True
        if getattr(request._request, "mfa_enrolment_checked_for", None) == request.user.pk:
            return True  # the session's user, whom the middleware let through in this request
        if mfa_enrolment_required(request.user):
            raise MFAEnrolmentRequired("Set up an authenticator app for your account before using Bespoke.")
        return True
