"""Render jobs (the database row is the truth for long work) and their outputs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from generation.params import ANIMATE_KEYFRAME, KEYFRAME


class JobStatus(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Waiting for the talent's approval"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class LeasedJob(models.Model):
    """Long work as a row: claimed with a fencing token (`attempt`), leased while running."""

    Status = JobStatus
    TERMINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
    AUDIT_NAME = "job"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    license_id = models.UUIDField(db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    params = models.JSONField()

    status = models.CharField(max_length=24, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    attempt = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    progress_step = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    outcome_code = models.CharField(max_length=64, blank=True)
    outcome_message = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(attempt__lte=models.F("max_attempts")),
                                   name="%(class)s_attempt_within_max"),
        ]

    @property
    def audit_subject(self) -> str:
        return f"{self.AUDIT_NAME}:{self.id}"


class RenderJob(LeasedJob):
    AUDIT_NAME = "render"

    medium = models.CharField(max_length=16, default="video")
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    likeness_model_id = models.UUIDField(null=True, blank=True)
    # A scene of an interactive story: its roles, each under its own license, are RenderCast
    # rows (`license_id` is then the first role's, so what reads one license still finds it).
    interactive = models.BooleanField(default=False)
    story_id = models.UUIDField(null=True, blank=True)
    # A prefetch the viewer may never choose: sent at a lower priority until chosen.
    speculative = models.BooleanField(default=False)

    @property
    def is_keyframe(self) -> bool:
        """One still of the likeness, made to be shown to the producer and then animated."""
        return bool(self.params.get(KEYFRAME))

    @property
    def animates_keyframe(self) -> str | None:
        """The output id of the keyframe this clip animates, if it animates one."""
        return self.params.get(ANIMATE_KEYFRAME)

    def __str__(self) -> str:
        return f"render {self.id} ({self.status})"


class RenderCast(models.Model):
    """One role of a scene and the license (and likeness model) it is played under."""

    job = models.ForeignKey(RenderJob, on_delete=models.PROTECT, related_name="cast")
    role = models.SlugField(max_length=64)
    license_id = models.UUIDField(db_index=True)
    likeness_model_id = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "role"], name="render_cast_unique_role"),
            models.UniqueConstraint(fields=["job", "license_id"], name="render_cast_unique_license"),
        ]

    def __str__(self) -> str:
        return f"{self.role} in {self.job_id} under {self.license_id}"


class TrainingJob(LeasedJob):
    """DreamBooth-LoRA personalisation from the talent's reference photos."""

    AUDIT_NAME = "training"

    loss_history = models.JSONField(default=list)
    eval_loss_before = models.FloatField(null=True, blank=True)
    eval_loss_after = models.FloatField(null=True, blank=True)
    likeness_model_id = models.UUIDField(null=True, blank=True)

    def __str__(self) -> str:
        return f"training {self.id} ({self.status})"


class RenderOutput(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.OneToOneField(RenderJob, on_delete=models.PROTECT, related_name="output")
    file = models.FileField(max_length=300)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    manifest_label = models.CharField(max_length=200)
    model_sha256 = models.CharField(max_length=64)
    disclosure = models.JSONField()
    # The id carried by the invisible watermark: traces a copy whose manifest was stripped.
    watermark_id = models.PositiveBigIntegerField(unique=True, null=True)
    # What was disclosed and how (label, watermark, manifest, consent, model hashes).
    compliance = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"output {self.id}"
