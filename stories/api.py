"""REST API for stories: author an Ink story, cast its roles, publish it.

Views are thin: they scope through selectors (404 outside scope) and call one service. A
story with problems is a 400 whose ``errors`` lists them, each with its source line; a
refusal by the consent gate (casting, publishing) is a 409 with the gate's reasons.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from consent import selectors as consent_selectors
from consent.models import Organization
from core.api import UUID_PATTERN, validated
from core.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from core.api.idempotency import idempotent
from core.errors import NotAllowed
from stories import selectors, services
from stories.models import Story, StoryRole

IDEMPOTENCY_PARAMETER = OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=False,
                                         description="Repeat a create safely: the first result is returned again.")


# --- serializers -----------------------------------------------------------------------

class StoryRoleOutput(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text="talent, viewer, or empty while the role is uncast.")
    license = serializers.UUIDField(source="license_id", read_only=True, allow_null=True,
                                    help_text="The license a talent role is cast under; null otherwise.")

    class Meta:
        model = StoryRole
        fields = ["id", "name", "kind", "license"]


class SceneOutput(serializers.Serializer):
    knot = serializers.CharField()
    prompt = serializers.CharField()
    cast = serializers.ListField(child=serializers.CharField())
    seconds = serializers.FloatField()
    line = serializers.IntegerField(allow_null=True, help_text="The knot's line in the Ink source; null without it.")


class OutlineOutput(serializers.Serializer):
    start = serializers.CharField(allow_null=True, help_text="The first scene played.")
    endings = serializers.ListField(child=serializers.CharField())
    scenes = SceneOutput(many=True)
    truncated = serializers.BooleanField(help_text="Exploration stopped at its bound before every path was played.")


class StoryOutput(serializers.ModelSerializer):
    roles = StoryRoleOutput(many=True, read_only=True)

    class Meta:
        model = Story
        fields = ["id", "organization", "title", "status", "created_at", "published_at", "roles"]


class StoryDetailOutput(StoryOutput):
    outline = serializers.SerializerMethodField()

    class Meta(StoryOutput.Meta):
        fields = [*StoryOutput.Meta.fields, "outline"]

    @extend_schema_field(OutlineOutput(allow_null=True))
    def get_outline(self, story: Story) -> dict[str, Any] | None:
        outline = selectors.story_outline_of(story=story)
        if outline is None:
            return None
        return OutlineOutput({
            "start": outline.start, "endings": list(outline.endings), "truncated": outline.truncated,
            "scenes": [{"knot": scene.knot, "prompt": scene.prompt, "cast": list(scene.cast),
                        "seconds": scene.seconds, "line": scene.line} for scene in outline.scenes.values()],
        }).data


class StoryInput(serializers.Serializer):
    organization = serializers.UUIDField(help_text="The studio the story is authored for.")
    title = serializers.CharField(max_length=200, allow_blank=True, default="",
                                  help_text="Empty: the story's own '# title:' tag.")
    compiled_json = serializers.CharField(trim_whitespace=False,
                                          help_text="The story compiled by inkjs or Inky (the JSON text).")
    ink_source = serializers.CharField(allow_blank=True, default="", trim_whitespace=False,
                                       help_text="The Ink source, so that problems name their lines.")


class CastInput(serializers.Serializer):
    license = serializers.UUIDField(required=False, allow_null=True, default=None,
                                    help_text="A talent role: the studio's license for the likeness.")
    viewer = serializers.BooleanField(required=False, default=False,
                                      help_text="A viewer role: played by whoever plays the story.")


# --- views -----------------------------------------------------------------------------

class StoryViewSet(viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The Ink stories of the studios you are a member of; producers and legal staff author them."""

    serializer_class = StoryOutput
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.stories_for_user(user=self.request.user).prefetch_related("roles")

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        return StoryDetailOutput if self.action != "list" else StoryOutput

    def _story(self, pk: str) -> Story:
        return selectors.story_get_for_user(user=self.request.user, story_id=pk)

    def _output(self, story: Story, code: int = status.HTTP_200_OK) -> Response:
        story = Story.objects.prefetch_related("roles").get(pk=story.pk)
        return Response(StoryDetailOutput(story).data, status=code)

    @extend_schema(request=StoryInput, responses={201: StoryDetailOutput}, parameters=[IDEMPOTENCY_PARAMETER])
    def create(self, request: Request) -> Response:
        """A draft story from its compiled Ink JSON, one uncast role per role its scenes name. A story
        with problems is a 400 whose errors list each problem ({line, message})."""
        data = validated(StoryInput, request)
        organization = Organization.objects.filter(pk=data.pop("organization")).first()
        if organization is None:
            raise NotAllowed("No such studio.", code="not_found")
        return idempotent(request, lambda: self._output(services.story_create(
            organization=organization, acting_user=request.user, **data), status.HTTP_201_CREATED))

    @extend_schema(request=CastInput, responses=StoryDetailOutput)
    @action(detail=True, methods=["post"], url_path=f"roles/(?P<role_id>{UUID_PATTERN})/cast", url_name="role-cast")
    def cast(self, request: Request, pk: str, role_id: str) -> Response:
        """Cast a role: under a license the studio holds and the consent gate allows for interactive
        video (a refusal is a 409 with the gate's reason), or as the viewer's own."""
        story = self._story(pk)
        role = selectors.story_roles(story=story).filter(pk=role_id).first()
        if role is None:
            raise NotAllowed("No such role.", code="not_found")
        data = validated(CastInput, request)
        license = None
        if data["license"] is not None:
            license = consent_selectors.license_get_for_user(user=request.user, license_id=data["license"])
        services.story_role_cast(role=role, license=license, viewer=data["viewer"], acting_user=request.user)
        return self._output(story)

    @extend_schema(request=None, responses=StoryDetailOutput)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        """Publish a draft whose every role is cast (else a 400 naming each uncast scene's line) and
        whose every scene the consent gate allows for its talent (else a 409 listing each refusal)."""
        story = services.story_publish(story=self._story(pk), acting_user=request.user)
        return self._output(story)
