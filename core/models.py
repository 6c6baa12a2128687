"""Cross-cutting records of the platform itself."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotentRequest(models.Model):
    """A create request made with an Idempotency-Key: repeating it returns the first result."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    endpoint = models.CharField(max_length=200)
    request_sha256 = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "bespoke_idempotentrequest"  # created under the composition app; its rows stay where they are
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class FormSubmission(models.Model):
    """A portal form's one submission (see core.submit_once): its token, claimed by the first
    post, and where that post sent the person."""

    class State(models.TextChoices):
        RUNNING = "running"
        DONE = "done"

    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    path = models.CharField(max_length=300)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    location = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.path} ({self.state})"
