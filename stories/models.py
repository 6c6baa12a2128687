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


class Playthrough(models.Model):
    """A viewer playing a published story, starring under their own consent (a viewer
    license). Its scenes are renders; the path the viewer took becomes the signed cut."""

    class Status(models.TextChoices):
        PLAYING = "playing", "Playing"
        ENDED = "ended", "Reached an ending"
        STOPPED = "stopped", "Stopped: the consent behind it ended"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    story = models.ForeignKey(Story, on_delete=models.PROTECT, related_name="playthroughs")
    viewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="playthroughs")
    viewer_license = models.ForeignKey("consent.LikenessLicense", on_delete=models.PROTECT, related_name="playthroughs")
    viewer_likeness_model_id = models.UUIDField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLAYING, db_index=True)
    stop_reason = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    @property
    def audit_subject(self) -> str:
        return f"playthrough:{self.id}"

    def __str__(self) -> str:
        return f"playthrough {self.id} ({self.status})"


class PlaythroughScene(models.Model):
    """One scene of a playthrough: on the path the viewer took (CHOSEN, at ``position``), or
    rendered ahead behind a choice the viewer may take (PREFETCHED), then DISCARDED when
    another choice was taken; REFUSED when the gate refused a role in it."""

    class Status(models.TextChoices):
        CHOSEN = "chosen", "On the viewer's path"
        PREFETCHED = "prefetched", "Rendered ahead of a choice"
        DISCARDED = "discarded", "Another choice was taken"
        REFUSED = "refused", "Refused by the consent gate"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    playthrough = models.ForeignKey(Playthrough, on_delete=models.PROTECT, related_name="scenes")
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="next_scenes")
    choice_index = models.PositiveIntegerField(null=True, blank=True, help_text="Empty when no choice leads here.")
    choice_text = models.CharField(max_length=500, blank=True)
    position = models.PositiveIntegerField(null=True, blank=True, help_text="0, 1, ... along the path taken.")
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    knot = models.CharField(max_length=200)
    prompt = models.TextField()
    cast = models.JSONField(default=list, help_text="The roles in the scene.")
    text = models.JSONField(default=list, help_text="The story's lines shown with the scene.")
    choices = models.JSONField(default=list, help_text="What the viewer may choose after it.")
    ended = models.BooleanField(default=False, help_text="The story ends after this scene.")
    state = models.TextField(help_text="The Ink state after this scene (where the next step resumes).")
    render_job_id = models.UUIDField(null=True, blank=True, db_index=True)
    refusal_code = models.CharField(max_length=64, blank=True)
    refusal_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["playthrough", "position"], name="playthrough_scene_unique_position"),
            models.UniqueConstraint(fields=["parent", "choice_index"], name="playthrough_scene_one_per_choice"),
            models.CheckConstraint(condition=~models.Q(status="chosen") | models.Q(position__isnull=False),
                                   name="playthrough_scene_chosen_has_position"),
        ]

    def __str__(self) -> str:
        return f"scene {self.knot} ({self.status})"


class StoryCut(models.Model):
    """The signed MP4 of a finished playthrough: its scenes' outputs joined without re-encoding,
    with a C2PA manifest whose ingredients are the scenes' own signed manifests."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    playthrough = models.OneToOneField(Playthrough, on_delete=models.PROTECT, related_name="cut")
    file = models.FileField(max_length=300)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    manifest_label = models.CharField(max_length=200)
    scene_outputs = models.JSONField(help_text="The scenes' output ids, in order.")
    choices = models.JSONField(help_text="The choices taken, in order.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"cut of {self.playthrough_id}"
