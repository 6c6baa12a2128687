"""Interactive stories written in Ink, and the roles their scenes cast."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Story(models.Model):
    """An Ink story a studio authors: the compiled JSON is what plays; the source, when
    the author gave it, is what problems and refusals point into by line."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        WITHDRAWN = "withdrawn", "Withdrawn"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("consent.Organization", on_delete=models.PROTECT, related_name="stories")
    title = models.CharField(max_length=200)
    ink_source = models.TextField(blank=True, help_text="Empty when only the compiled JSON (from Inky) was uploaded.")
    compiled_json = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status="draft", published_at__isnull=True)
                                   | (~models.Q(status="draft") & models.Q(published_at__isnull=False)),
                                   name="story_published_at_iff_published"),
        ]

    @property
    def audit_subject(self) -> str:
        return f"story:{self.id}"

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"


class StoryRole(models.Model):
    """A role the story's scenes cast (``# cast: lead, friend``).

    Created uncast (no kind, no license) with the story. Casting makes it a talent role,
    played by a licensed likeness (the license is required), or a viewer role, played by
    whoever plays the story and consents then (never a license). The database holds
    these three shapes and no other."""

    class Kind(models.TextChoices):
        TALENT = "talent", "Talent (a licensed likeness)"
        VIEWER = "viewer", "Viewer (whoever plays the story)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    story = models.ForeignKey(Story, on_delete=models.PROTECT, related_name="roles")
    name = models.SlugField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices, blank=True, help_text="Empty until cast.")
    license = models.ForeignKey("consent.LikenessLicense", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="story_roles")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["story", "name"], name="story_role_unique_name"),
            models.CheckConstraint(condition=models.Q(kind="talent", license__isnull=False)
                                   | models.Q(kind__in=["viewer", ""], license__isnull=True),
                                   name="story_role_license_iff_talent"),
        ]

    @property
    def is_cast(self) -> bool:
        return bool(self.kind)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind or 'uncast'})"
