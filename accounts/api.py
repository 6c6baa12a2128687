"""REST API for invitations: legal staff list, send and revoke them (accepting is the portal's link page).

Only legal staff of an invitation's organisation see it; anyone else gets an empty list
and 404s. A new invitation's link comes back once, in the create response, and is not
stored anywhere (so creation takes no idempotency key: a repeat is refused as pending).
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors
from core.stepup import step_up_api
from accounts.invitations import invitation_create, invitation_link, invitation_revoke
from accounts.models import ROLE_CHOICES, Invitation
from core.api import UUID_PATTERN, validated


class InvitationOutput(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=Invitation.Status.choices, read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "organization", "kind", "role", "email", "display_name", "status", "created_at", "expires_at",
                  "accepted_at", "revoked_at"]


class InvitationCreated(InvitationOutput):
    link = serializers.SerializerMethodField(help_text="The single-use link, returned this once only.")

    class Meta(InvitationOutput.Meta):
        fields = InvitationOutput.Meta.fields + ["link"]

    def get_link(self, invitation: Invitation) -> str:
        return invitation_link(self.context["token"])


class InvitationInput(serializers.Serializer):
    organization = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Invitation.Kind.choices)
    role = serializers.ChoiceField(choices=ROLE_CHOICES, required=False, allow_blank=True, default="")
    email = serializers.EmailField()
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class InvitationViewSet(viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = InvitationOutput
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.invitations_for_user(user=self.request.user)

    @extend_schema(request=InvitationInput, responses={201: InvitationCreated})
    def create(self, request: Request) -> Response:
        data = validated(InvitationInput, request)
        organization = selectors.legal_organizations(user=request.user).filter(pk=data.pop("organization")).first()
        if organization is None:
            raise Http404("No such organisation among those you are legal staff of.")
        if data["kind"] == Invitation.Kind.MEMBER:
            step_up_api(request)  # granting a role: a fresh second factor
        invitation, token = invitation_create(organization=organization, acting_user=request.user, **data)
        return Response(InvitationCreated(invitation, context={"token": token}).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=InvitationOutput)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        invitation = selectors.invitation_get_for_user(user=request.user, invitation_id=pk)
        return Response(InvitationOutput(invitation_revoke(invitation=invitation, acting_user=request.user)).data)
