"""Who must enrol an authenticator app before doing anything: legal staff, verifiers and
staff users (enforced on the portal by `accounts.middleware` and on the API by
`bespoke.api.permissions.MFAEnrolled`)."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Exists

from consent.models import Membership
from core.stepup import totp_authenticators

ROLES_REQUIRING_MFA = (Membership.Role.LEGAL, Membership.Role.VERIFIER)


def mfa_enrolment_required(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether the user must enrol an authenticator app before anything else.

    The middleware asks this on every request, so it is one query whoever asks.
    """
    if not user.is_authenticated:
        return False
    enrolled = totp_authenticators(user.pk)
    if user.is_staff:
        return not enrolled.exists()
    return Membership.objects.filter(user_id=user.pk, role__in=ROLES_REQUIRING_MFA).filter(~Exists(enrolled)).exists()
