"""Talent, organisations, identity verification and likeness licenses."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        LEGAL = "legal", "Legal"
        PRODUCER = "producer", "Producer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization", "role"], name="membership_unique_role")]

    def __str__(self) -> str:
        return f"{self.user} {self.role} at {self.organization}"


class Talent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="talent")
    display_name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_name


class IdentityVerification(models.Model):
    class Method(models.TextChoices):
        DOCUMENT = "document", "Government ID document checked"
        IN_PERSON = "in_person", "Checked in person"
        VIDEO_CALL = "video_call", "Live video call"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="verifications")
    method = models.CharField(max_length=16, choices=Method.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"verification of {self.talent} ({self.status})"


class LikenessLicense(models.Model):
    class Medium(models.TextChoices):
        VIDEO = "video", "Video"
        IMAGE = "image", "Still image"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="licenses")
    licensee = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="licenses")
    use_description = models.TextField()
    permitted_media = models.JSONField(default=list)
    starts_on = models.DateField()
    ends_on = models.DateField()
    max_renders = models.PositiveIntegerField()
    excluded_categories = models.JSONField(default=list)
    allows_likeness_model = models.BooleanField(default=False)
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64)
    drafted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    talent_signed_at = models.DateTimeField(null=True, blank=True)
    talent_signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    talent_signed_ip = models.GenericIPAddressField(null=True, blank=True)
    talent_signed_sha256 = models.CharField(max_length=64, blank=True)

    countersigned_at = models.DateTimeField(null=True, blank=True)
    countersigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    countersigned_ip = models.GenericIPAddressField(null=True, blank=True)
    countersigned_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_on__gt=models.F("starts_on")), name="license_term_positive"),
            models.CheckConstraint(condition=models.Q(max_renders__gt=0), name="license_max_renders_positive"),
        ]

    def __str__(self) -> str:
        return f"license {self.id}"


class LicenseRevocation(models.Model):
    license = models.OneToOneField(LikenessLicense, on_delete=models.PROTECT, related_name="revocation")
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    revoked_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField()
    published_outputs = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"revocation of {self.license_id}"


class LicenseUse(models.Model):
    """One published output made under a license; recorded by the gate at publication."""

    license = models.ForeignKey(LikenessLicense, on_delete=models.PROTECT, related_name="uses")
    output_ref = models.CharField(max_length=64)
    job_ref = models.CharField(max_length=64)
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["license", "output_ref"], name="license_use_unique_output")]

    def __str__(self) -> str:
        return f"use {self.output_ref} of {self.license_id}"


class TalentKey(models.Model):
    """The talent's data key, wrapped by the key provider; destroyed on erasure."""

    talent = models.OneToOneField(Talent, on_delete=models.PROTECT, related_name="data_key")
    wrapped_key = models.BinaryField(null=True)
    provider_key_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"data key of {self.talent_id}"


class ReferencePhoto(models.Model):
    """A reference photo, re-encoded and stored only sealed under the talent's key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="photos")
    stored_name = models.CharField(max_length=300)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    @property
    def object_ref(self) -> str:
        return f"reference_photo:{self.id}"

    def __str__(self) -> str:
        return f"photo {self.id}"


class LikenessModel(models.Model):
    """A model of a talent's likeness (LoRA weights), trained under one license for one
    licensee and stored only sealed; destroyed when no license allows it any more."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DESTROYED = "destroyed", "Destroyed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="likeness_models")
    licensee = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="likeness_models")
    license = models.ForeignKey(LikenessLicense, on_delete=models.PROTECT, related_name="likeness_models")
    training_ref = models.CharField(max_length=64)
    stored_name = models.CharField(max_length=300, blank=True)
    weights_sha256 = models.CharField(max_length=64)
    rank = models.PositiveIntegerField()
    alpha = models.FloatField()
    instance_prompt = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)
    destroyed_reason = models.CharField(max_length=64, blank=True)

    @property
    def object_ref(self) -> str:
        return f"likeness_model:{self.id}"

    def __str__(self) -> str:
        return f"likeness model {self.id} ({self.status})"
