"""REST API for generation: render and training jobs, their progress and outputs."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from core.api import UUID_PATTERN, validated
from core.api.idempotency import idempotent
from core.api.output import PlainOutput
from core.stepup import step_up_api
from generation import selectors
from generation.downloads import render_output_download
from generation.models import RenderJob, RenderOutput, TrainingJob
from generation.services import keyframes, render, training

IDEMPOTENCY_PARAMETER = OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=False,
                                         description="Repeat a create safely: the first result is returned again.")


class OutputSummary(PlainOutput, serializers.ModelSerializer):
    class Meta:
        model = RenderOutput
        fields = ["id", "sha256", "size_bytes", "manifest_label", "disclosure", "watermark_id", "compliance", "created_at"]


class RenderOutputSerializer(PlainOutput, serializers.ModelSerializer):
    output = OutputSummary(read_only=True, allow_null=True, default=None)

    class Meta:
        model = RenderJob
        fields = ["id", "license_id", "likeness_model_id", "prompt", "negative_prompt", "params", "status", "attempt",
                  "progress_step", "progress_total", "outcome_code", "outcome_message", "created_at", "started_at",
                  "finished_at", "output"]


class RenderInput(serializers.Serializer):
    license = serializers.UUIDField()
    prompt = serializers.CharField(max_length=1000)
    negative_prompt = serializers.CharField(max_length=1000, allow_blank=True, default="")
    params = serializers.DictField(default=dict)
    likeness_model = serializers.UUIDField(required=False, allow_null=True, default=None)


class AnimateInput(serializers.Serializer):
    prompt = serializers.CharField(max_length=1000, required=False,
                                   help_text="The clip's scene; by default the keyframe's prompt.")
    params = serializers.DictField(default=dict, help_text="Render parameters; by default the keyframe's size, "
                                   "steps, guidance, seed and likeness weight.")


class UseDecisionInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=True, default="")


class TrainingOutput(serializers.ModelSerializer):
    class Meta:
        model = TrainingJob
        fields = ["id", "license_id", "params", "status", "attempt", "progress_step", "progress_total", "loss_history",
                  "eval_loss_before", "eval_loss_after", "likeness_model_id", "outcome_code", "outcome_message",
                  "created_at", "finished_at"]


class TrainingInput(serializers.Serializer):
    license = serializers.UUIDField()
    params = serializers.DictField(default=dict)


class RenderViewSet(viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = RenderOutputSerializer
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.render_jobs_for_user(user=self.request.user)

    @extend_schema(request=RenderInput, responses={201: RenderOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    def create(self, request: Request) -> Response:
        data = validated(RenderInput, request)

        def request_render() -> Response:
            job = render.render_job_request(
                license_id=str(data["license"]), prompt=data["prompt"], negative_prompt=data["negative_prompt"],
                params=data["params"], acting_user=request.user,
                likeness_model_id=str(data["likeness_model"]) if data["likeness_model"] else None)
            return Response(RenderOutputSerializer(job).data, status=status.HTTP_201_CREATED)

        return idempotent(request, request_render)

    @extend_schema(request=None, responses=RenderOutputSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        job = selectors.job_get_for_user(self.get_queryset(), pk)
        job = render.render_job_cancel(job=job, acting_user=request.user)
        job.refresh_from_db()
        return Response(RenderOutputSerializer(job).data)

    @extend_schema(request=AnimateInput, responses={201: RenderOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"])
    def animate(self, request: Request, pk: str) -> Response:
        """The producer approves this published keyframe: a new render animates it (image-to-video)."""
        job = selectors.job_get_for_user(self.get_queryset(), pk)
        data = validated(AnimateInput, request)
        return idempotent(request, lambda: Response(RenderOutputSerializer(keyframes.keyframe_animate(
            job=job, acting_user=request.user, params=data["params"], prompt=data.get("prompt"))).data,
            status=status.HTTP_201_CREATED))

    @extend_schema(request=None, responses={201: RenderOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"])
    def redo(self, request: Request, pk: str) -> Response:
        """The producer asks for another keyframe in place of this one: same prompt, a new seed."""
        job = selectors.job_get_for_user(self.get_queryset(), pk)
        return idempotent(request, lambda: Response(RenderOutputSerializer(keyframes.keyframe_redo(
            job=job, acting_user=request.user)).data, status=status.HTTP_201_CREATED))

    def _decide(self, request: Request, pk: str, *, approve: bool) -> Response:
        job = selectors.job_get_for_user(self.get_queryset(), pk)
        reason = validated(UseDecisionInput, request)["reason"]
        step_up_api(request)
        job = render.render_job_decide(job=job, approve=approve, reason=reason, acting_user=request.user)
        job.refresh_from_db()
        return Response(RenderOutputSerializer(job).data)

    @extend_schema(request=UseDecisionInput, responses=RenderOutputSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """The talent approves this use of their likeness (licenses that ask for per-use approval)."""
        return self._decide(request, pk, approve=True)

    @extend_schema(request=UseDecisionInput, responses=RenderOutputSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str) -> Response:
        """The talent declines this use, with a reason."""
        return self._decide(request, pk, approve=False)

    @extend_schema(request=None, responses={
        (200, "video/mp4"): bytes, (206, "video/mp4"): OpenApiResponse(description="The byte range asked for."),
        (200, "image/png"): bytes,  # a keyframe's still
        302: OpenApiResponse(description="On an object store: a short-lived pre-signed URL of the file (Location)."),
    })
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> HttpResponse:
        output = selectors.published_output_get_for_user(user=request.user, job_id=pk)
        return render_output_download(request, output=output)


class TrainingViewSet(viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = TrainingOutput
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.training_jobs_for_user(user=self.request.user)

    @extend_schema(request=TrainingInput, responses={201: TrainingOutput}, parameters=[IDEMPOTENCY_PARAMETER])
    def create(self, request: Request) -> Response:
        data = validated(TrainingInput, request)
        return idempotent(request, lambda: Response(TrainingOutput(training.training_job_request(
            license_id=str(data["license"]), params=data["params"], acting_user=request.user)).data,
            status=status.HTTP_201_CREATED))

    @extend_schema(request=None, responses=TrainingOutput)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        job = selectors.job_get_for_user(self.get_queryset(), pk)
        job = training.training_job_cancel(job=job, acting_user=request.user)
        job.refresh_from_db()
        return Response(TrainingOutput(job).data)
