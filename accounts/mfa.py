"""Who must enrol an authenticator app before doing anything: legal staff, verifiers and
staff users (enforced on the portal by `accounts.middleware` and on the API by
`bespoke.api.permissions.MFAEnrolled`)."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from consent.models import Membership
from core.stepup import user_has_mfa


def mfa_enrolment_required(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether the user must enrol an authenticator app before anything else."""
    if not user.is_authenticated or user_has_mfa(user):
        return False
    return user.is_staff or Membership.objects.filter(
        user_id=user.pk, role__in=(Membership.Role.LEGAL, Membership.Role.VERIFIER)).exists()
