"""Invitations: how people get an account. Legal staff invite talent, or colleagues with a role.

Only a SHA-256 hash of the single-use token is stored; the token itself exists in the
link sent by email and shown once to the inviter.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from consent.models import Membership, Organization


# A member invitation grants a studio role; verifiers are appointed by the platform operator.
ROLE_CHOICES = [(role, Membership.Role(role).label) for role in Membership.STUDIO_ROLES]


class Invitation(models.Model):
    class Kind(models.TextChoices):
        TALENT = "talent", "Talent"
        MEMBER = "member", "Member of our organisation"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="invitations")
    inviter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    role = models.CharField(max_length=16, choices=ROLE_CHOICES, blank=True,
                            help_text="For a member: the role they get on accepting.")
    email = models.EmailField()
    display_name = models.CharField(max_length=200, blank=True, help_text="For talent: the name they are enrolled under.")
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="invitation")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="talent", role="") | models.Q(kind="member", role__in=Membership.STUDIO_ROLES)),
                name="invitation_role_matches_kind"),
            models.CheckConstraint(condition=~models.Q(accepted_at__isnull=False, revoked_at__isnull=False),
                                   name="invitation_not_accepted_and_revoked"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} invitation to {self.organization} ({self.status})"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.accepted_at is not None:
            return self.Status.ACCEPTED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING
