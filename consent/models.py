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
        AUDITOR = "auditor", "Auditor (read only)"

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
    # Its legal staff verify the talent's identity and see the evidence; so do the legal
    # staff of organisations the talent holds a license with. No one else does.
    invited_by = models.ForeignKey("Organization", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="invited_talents")
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
    challenge_code = models.CharField(max_length=12, help_text="Shown to the talent to say or hold up in the consent capture.")

    def __str__(self) -> str:
        return f"verification of {self.talent} ({self.status})"


class IdentityEvidence(models.Model):
    """An ID document image or a consent capture (a photo or video showing the challenge
    code), stored only sealed under the talent's key."""

    class Kind(models.TextChoices):
        ID_DOCUMENT = "id_document", "Identity document"
        CONSENT_CAPTURE = "consent_capture", "Photo or video with the challenge code"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    verification = models.ForeignKey(IdentityVerification, on_delete=models.PROTECT, related_name="evidence")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    media_type = models.CharField(max_length=40)
    stored_name = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    @property
    def object_ref(self) -> str:
        return f"identity_evidence:{self.id}"

    def __str__(self) -> str:
        return f"{self.kind} for {self.verification_id}"


class UseTerms(models.Model):
    """The terms of use a license grants, and a license template proposes."""

    class Representation(models.TextChoices):
        NONE = "none", "Not represented"
        COUNSEL = "counsel", "Legal counsel"
        UNION = "union", "Union agreement"

    class CompensationBasis(models.TextChoices):
        FLAT = "flat", "Flat fee"
        PER_RENDER = "per_render", "Per published output"
        PER_DAY = "per_day", "Per day of use"

    use_description = models.TextField()
    permitted_media = models.JSONField(default=list)
    territories = models.JSONField(default=list)
    languages = models.JSONField(default=list)
    dubbing = models.BooleanField(default=False)
    advertising = models.BooleanField(default=False)
    interactive = models.BooleanField(default=False)
    derivatives = models.BooleanField(default=False)
    allows_likeness_model = models.BooleanField(default=False)
    excluded_categories = models.JSONField(default=list)
    requires_use_approval = models.BooleanField(default=False)
    max_renders = models.PositiveIntegerField()
    representation = models.CharField(max_length=16, choices=Representation.choices, default=Representation.NONE)
    representation_detail = models.CharField(max_length=200, blank=True)
    compensation_basis = models.CharField(max_length=16, choices=CompensationBasis.choices)
    compensation_rate = models.DecimalField(max_digits=12, decimal_places=2)
    compensation_currency = models.CharField(max_length=3)

    class Meta:
        abstract = True


class LikenessLicense(UseTerms):
    """A likeness license: a structured, reasonably specific description of one use of a
    person's likeness, bound by the SHA-256 of its exact text to every signature on it."""

    class Medium(models.TextChoices):
        VIDEO = "video", "Video"
        IMAGE = "image", "Still image"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OFFERED = "offered", "Offered to the talent"
        SIGNED = "signed", "Signed by the talent"
        COUNTERSIGNED = "countersigned", "Countersigned"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"
        SUPERSEDED = "superseded", "Superseded by an amendment"

    class Capacity(models.TextChoices):
        ADULT = "adult", "Adult"
        MINOR = "minor", "Minor (a guardian signs)"
        DECEASED = "deceased", "Deceased (the estate signs)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="licenses")
    licensee = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="licenses")
    version = models.PositiveIntegerField(default=1)
    previous = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="amendment")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)

    project = models.CharField(max_length=200)
    role = models.CharField(max_length=200)
    starts_on = models.DateField()
    ends_on = models.DateField()

    capacity = models.CharField(max_length=16, choices=Capacity.choices, default=Capacity.ADULT)
    talent_birth_date = models.DateField(null=True, blank=True)
    representative = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+", help_text="The guardian or estate representative who signs.")
    authority_document_name = models.CharField(max_length=300, blank=True,
                                               help_text="The estate's authority document, stored sealed.")
    authority_document_sha256 = models.CharField(max_length=64, blank=True)

    text = models.TextField()
    text_sha256 = models.CharField(max_length=64)
    drafted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_on__gt=models.F("starts_on")), name="license_term_positive"),
            models.CheckConstraint(condition=models.Q(max_renders__gt=0), name="license_max_renders_positive"),
            models.CheckConstraint(condition=models.Q(compensation_rate__gte=0), name="license_rate_not_negative"),
        ]

    @property
    def talent_side_signer_id(self) -> object:
        """Who signs and decides for the talent: the talent, or a minor's guardian, or the estate."""
        return self.talent.user_id if self.capacity == self.Capacity.ADULT else self.representative_id

    @property
    def authority_document_ref(self) -> str:
        return f"authority_document:{self.id}"

    def __str__(self) -> str:
        return f"license {self.id} v{self.version} ({self.status})"


class SignatureEvent(models.Model):
    """Evidence of one signature, in the manner of an e-signature certificate of completion."""

    class Role(models.TextChoices):
        TALENT = "talent", "Talent"
        GUARDIAN = "guardian", "Guardian of a minor"
        ESTATE = "estate", "Estate representative"
        LICENSEE = "licensee", "Licensee (legal countersignature)"

    license = models.ForeignKey(LikenessLicense, on_delete=models.PROTECT, related_name="signatures")
    role = models.CharField(max_length=16, choices=Role.choices)
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    authentication_method = models.CharField(max_length=32)
    disclosure_version = models.CharField(max_length=32)
    disclosure_accepted_at = models.DateTimeField()
    document_sha256 = models.CharField(max_length=64)
    intent = models.CharField(max_length=200)

    class Meta:
        ordering = ["signed_at"]
        constraints = [models.UniqueConstraint(fields=["license", "role"], name="signature_once_per_role")]

    def __str__(self) -> str:
        return f"{self.role} signature on {self.license_id}"


class LicenseSuspension(models.Model):
    """A pause (a strike, a dispute) that blocks the gate without revoking."""

    class Reason(models.TextChoices):
        STRIKE = "strike", "Strike"
        DISPUTE = "dispute", "Dispute"
        OTHER = "other", "Other"

    license = models.ForeignKey(LikenessLicense, on_delete=models.PROTECT, related_name="suspensions")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(blank=True)
    suspended_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    suspended_at = models.DateTimeField(auto_now_add=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"suspension of {self.license_id} ({self.reason})"


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


class UseApproval(models.Model):
    """The talent's yes or no to one use, when their license asks to approve each one."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the talent"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    license = models.ForeignKey(LikenessLicense, on_delete=models.PROTECT, related_name="use_approvals")
    job_ref = models.CharField(max_length=64, unique=True)
    prompt = models.TextField()
    params = models.JSONField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"approval of {self.job_ref} ({self.status})"


class LicenseTemplate(UseTerms):
    """An organisation's starting point for drafting: default terms that legal staff
    adjust for each talent and project. The license keeps no link to it: the drafted
    terms are what bind."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="license_templates")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    project = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=200, blank=True)
    term_months = models.PositiveIntegerField(help_text="A license drafted from it ends this many months after it starts.")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], condition=models.Q(archived_at__isnull=True),
                                    name="license_template_unique_live_name"),
            models.CheckConstraint(condition=models.Q(max_renders__gt=0), name="license_template_max_renders_positive"),
            models.CheckConstraint(condition=models.Q(term_months__gt=0), name="license_template_term_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.organization})"
