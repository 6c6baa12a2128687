"""Operator tooling: make an account a verifier of the platform operator's desk."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.errors import ApplicationError
from consent import services
from consent.models import Membership, Organization


class Command(BaseCommand):
    help = ("Appoint USERNAME a verifier of the operator organisation (made with --operator on first use). "
            "A verifier can never be a member of a studio. --by names the operator's staff account that appoints.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--by", required=True, help="the appointing account (a verifier or a staff user)")
        parser.add_argument("--operator", default="Bespoke Verification Desk", help="the operator organisation's name")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        user = User.objects.filter(username=options["username"]).first()
        by = User.objects.filter(username=options["by"]).first()
        if user is None or by is None:
            raise CommandError("both accounts must exist")
        operator = Organization.objects.filter(kind=Organization.Kind.OPERATOR).first()
        if operator is not None and not (by.is_staff or Membership.objects.filter(
                user=by, organization=operator, role=Membership.Role.VERIFIER).exists()):
            raise CommandError(f"{by.username} is neither staff nor a verifier of {operator.name}")
        if operator is None and not by.is_staff:
            raise CommandError("the first verifier is appointed by a staff account")
        try:
            operator = operator or services.organization_create(name=options["operator"], acting_user=by,
                                                                kind=Organization.Kind.OPERATOR)
            services.membership_add(organization=operator, user=user, role=Membership.Role.VERIFIER, acting_user=by)
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"{user.username} is a verifier of {operator.name}; they must enrol an authenticator app "
                          "before deciding anything")
