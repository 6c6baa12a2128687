"""Reads in accounts, scoped to what the caller may see (anything else is a 404)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Invitation
from consent import policies
from consent.models import Organization


def legal_organizations(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organization]:
    """The organisations the user may invite people to: those where they are legal staff."""
    return policies.legal_organizations(user)


def invitations_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Invitation]:
    """Legal staff see their organisations' invitations; nobody else sees any."""
    return (Invitation.objects.filter(organization__in=legal_organizations(user=user))
            .select_related("organization", "inviter", "accepted_by").order_by("-created_at"))


def invitation_get_for_user(*, user: AbstractBaseUser | AnonymousUser, invitation_id: object) -> Invitation:
    try:
        return invitations_for_user(user=user).get(pk=invitation_id)
    except (Invitation.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such invitation.") from None
