"""Invitation services: legal staff invite talent or colleagues; the invitee accepts once.

A token is "<invitation id hex>.<secret>": the id finds the row, and the secret's SHA-256
is compared with the stored hash in constant time. Every refusal of a token (unknown,
wrong secret, used, revoked, expired) raises `InvitationUnusable` and changes nothing;
the caller shows unknown and used alike, so a link reveals nothing about other links.
Audit events carry ids only, never the invitee's email address or name.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation
from audit.actors import user_actor
from audit.services import audit_append
from core.errors import ApplicationError, InvalidTransition, NotAllowed, ValidationFailed
from consent.models import Organization
from consent.policies import STUDIO_ROLES, is_legal
from consent.services import membership_add, talent_enrol

logger = logging.getLogger(__name__)


class InvitationUnusable(ApplicationError):
    code = "invitation_unusable"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def invitation_link(token: str) -> str:
    return settings.BESPOKE_PUBLIC_URL + reverse("portal-invitation-accept", kwargs={"token": token})


def _email_taken(email: str) -> bool:
    return (get_user_model().objects.filter(email__iexact=email).exists()
            or EmailAddress.objects.filter(email__iexact=email).exists())


@transaction.atomic
def invitation_create(*, organization: Organization, kind: str, email: str, acting_user: AbstractBaseUser,
                      role: str = "", display_name: str = "") -> tuple[Invitation, str]:
    """Invite someone to `organization`; returns the invitation and its token (never stored).

    The link is emailed once the transaction commits; the caller may show it once too.
    """
    if not is_legal(acting_user, organization.id):
        raise NotAllowed("Only legal staff of this organisation can invite people to it.")
    email = BaseUserManager.normalize_email(email.strip())
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed("Enter a valid email address.", field="email") from None
    display_name = display_name.strip()
    if kind == Invitation.Kind.TALENT:
        if not display_name:
            raise ValidationFailed("Give the talent's name as it should appear on licenses.", field="display_name")
        role = ""
    elif kind == Invitation.Kind.MEMBER:
        if role not in STUDIO_ROLES:
            raise ValidationFailed("Choose the role they will have: legal, producer or auditor.", field="role")
    else:
        raise ValidationFailed("Invite either a talent or a member of your organisation.", field="kind")
    if _email_taken(email):
        raise ValidationFailed("An account with this email address already exists.", field="email")
    if Invitation.objects.filter(organization=organization, email__iexact=email, accepted_at__isnull=True,
                                 revoked_at__isnull=True, expires_at__gt=timezone.now()).exists():
        raise ValidationFailed("This address already has a pending invitation here; revoke it to send a new one.",
                               field="email")
    secret = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization, inviter=acting_user, kind=kind, role=role, email=email, display_name=display_name,
        token_sha256=_digest(secret), expires_at=timezone.now() + timedelta(days=settings.BESPOKE_INVITATION_DAYS))
    token = f"{invitation.id.hex}.{secret}"
    audit_append(action="invitation.created", actor=user_actor(acting_user), subject=f"invitation:{invitation.id}",
                 data={"organization": str(organization.id), "kind": kind, "role": role,
                       "expires_at": invitation.expires_at.isoformat()})
    transaction.on_commit(lambda: _send(invitation, token), robust=True)
    return invitation, token


def _send(invitation: Invitation, token: str) -> None:
    what = ("to star in licensed likeness work with" if invitation.kind == Invitation.Kind.TALENT
            else f"to join as {invitation.get_role_display().lower()} at")
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}You are invited {what} {invitation.organization}",
        message=(f"You have been invited {what} {invitation.organization} on Bespoke.\n\n"
                 f"Create your account here (the link works once, until "
                 f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{invitation_link(token)}\n\n"
                 "If you did not expect this, ignore this email."),
        from_email=None, recipient_list=[invitation.email])


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, acting_user: AbstractBaseUser) -> Invitation:
    if not is_legal(acting_user, invitation.organization_id):
        raise NotAllowed("Only legal staff of this organisation can revoke its invitations.")
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != Invitation.Status.PENDING:
        raise InvalidTransition(f"This invitation is {invitation.status}; only a pending one can be revoked.")
    invitation.revoked_at = timezone.now()
    invitation.revoked_by = acting_user
    invitation.save(update_fields=["revoked_at", "revoked_by"])
    audit_append(action="invitation.revoked", actor=user_actor(acting_user), subject=f"invitation:{invitation.id}")
    return invitation


def invitation_for_token(token: str, *, for_update: bool = False) -> Invitation:
    """The pending invitation a token opens, or InvitationUnusable (the same for unknown and used)."""
    invitation_hex, _, secret = token.partition(".")
    try:
        invitation_id = uuid.UUID(hex=invitation_hex)
    except ValueError:
        raise InvitationUnusable("This invitation link is not valid, or it has already been used.") from None
    rows = Invitation.objects.select_related("organization")
    invitation = (rows.select_for_update() if for_update else rows).filter(pk=invitation_id).first()
    if invitation is None or not hmac.compare_digest(invitation.token_sha256, _digest(secret)) \
            or invitation.accepted_at is not None:
        raise InvitationUnusable("This invitation link is not valid, or it has already been used.")
    if invitation.revoked_at is not None:
        raise InvitationUnusable("This invitation was withdrawn by the organisation that sent it.", code="revoked")
    if invitation.expires_at <= timezone.now():
        raise InvitationUnusable("This invitation has expired. Ask the person who invited you for a new one.",
                                 code="expired")
    if not is_legal(invitation.inviter, invitation.organization_id):
        # Whoever invited no longer speaks for the organisation: their invitations lapse with them.
        raise InvitationUnusable("This invitation is no longer valid. Ask the organisation for a new one.",
                                 code="revoked")
    return invitation


def suggested_username(email: str) -> str:
    local = email.split("@", 1)[0]
    return "".join(c for c in local if c.isalnum() or c in "@.+-_")[:150] or "user"


def _check_username(username: str) -> str:
    User = get_user_model()
    username = User.normalize_username(username.strip())
    field = User._meta.get_field(User.USERNAME_FIELD)
    try:
        field.run_validators(username)
    except ValidationError as error:
        raise ValidationFailed(" ".join(error.messages), field="username") from None
    if not username:
        raise ValidationFailed("Choose a username.", field="username")
    if User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exists():
        raise ValidationFailed("This username is taken; choose another.", field="username")
    return username


@transaction.atomic
def invitation_accept(*, token: str, username: str, password: str) -> AbstractBaseUser:
    """Create the invitee's account and give it what the invitation promised, all or nothing.

    The email address is marked verified: the token arrived at it. The role is granted on
    the inviter's authority, so the inviter is the acting user of the grant.
    """
    invitation = invitation_for_token(token, for_update=True)
    username = _check_username(username)
    User = get_user_model()
    candidate = User(**{User.USERNAME_FIELD: username}, email=invitation.email)
    try:
        password_validation.validate_password(password, user=candidate)
    except ValidationError as error:
        raise ValidationFailed(" ".join(error.messages), field="password") from None
    if _email_taken(invitation.email):
        raise InvitationUnusable("An account with this email address already exists; sign in instead.")
    user = User.objects.create_user(**{User.USERNAME_FIELD: username}, email=invitation.email, password=password)
    EmailAddress.objects.create(user=user, email=invitation.email, verified=True, primary=True)
    if invitation.kind == Invitation.Kind.TALENT:
        talent_enrol(user=user, display_name=invitation.display_name, acting_user=invitation.inviter,
                     invited_by=invitation.organization)
    else:
        membership_add(organization=invitation.organization, user=user, role=invitation.role,
                       acting_user=invitation.inviter)
    # Conditional on still being open: a second acceptance racing this one updates nothing.
    accepted = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True) \
        .update(accepted_at=timezone.now(), accepted_by=user)
    if accepted != 1:
        raise InvitationUnusable("This invitation link is not valid, or it has already been used.")
    audit_append(action="invitation.accepted", actor=user_actor(user), subject=f"invitation:{invitation.id}",
                 data={"user": user_actor(user), "organization": str(invitation.organization_id)})
    return user


def invitations_erase_for_user(*, user_id: int, **_: object) -> None:
    """An erased talent's invitation keeps no name or address (the invitation row stays, as
    the record of how the account came to be)."""
    Invitation.objects.filter(accepted_by_id=user_id).update(display_name="Erased talent", email="")
