"""Talent, organisations, identity verification and likeness licenses."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Organization(models.Model):
    """A studio (legal staff, producers, auditors), or the platform operator (verifiers).

    The operator stands outside every studio: its verifiers establish the facts a
    license rests on, and a verifier is never a member of a studio."""

    class Kind(models.TextChoices):
        STUDIO = "studio", "Studio"
        OPERATOR = "operator", "Platform operator"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STUDIO)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        LEGAL = "legal", "Legal"
        PRODUCER = "producer", "Producer"
        AUDITOR = "auditor", "Auditor (read only)"
        VERIFIER = "verifier", "Verifier (platform operator)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    STUDIO_ROLES = (Role.LEGAL, Role.PRODUCER, Role.AUDITOR)  # the operator's members are verifiers

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization", "role"], name="membership_unique_role")]

    def __str__(self) -> str:
        return f"{self.user} {self.role} at {self.organization}"


class Talent(models.Model):
    """A person whose likeness is licensed: a performer the verification desk verifies, or a
    viewer who signed up to star in stories and whose face the platform checks (FaceCheck)."""

    class Kind(models.TextChoices):
        PERFORMER = "performer", "Performer"
        VIEWER = "viewer", "Viewer (stars in interactive stories)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="talent")
    display_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERFORMER)
    declared_birth_date = models.DateField(null=True, blank=True,
                                           help_text="A viewer's, as they declared it at sign-up (adults only).")
    # The studio that brought the talent in; it sees the talent by name, never their
    # identity evidence (only the verification desk does).
    invited_by = models.ForeignKey("Organization", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="invited_talents")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_name


class DeskReviewed(models.Model):
    """A request the verification desk decides: approval takes two different verifiers
    (the first records the facts the evidence establishes, the second confirms them);
    either may reject."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the verification desk"
        APPROVED = "approved", "Approved by two verifiers"
        REJECTED = "rejected", "Rejected"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    first_approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                          related_name="+")
    first_approved_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   help_text="The second approver, or whoever rejected.")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    challenge_code = models.CharField(max_length=12, help_text="Shown to the person to say or hold up in the consent capture.")

    class Meta:
        abstract = True

    @classmethod
    def desk_constraints(cls, prefix: str) -> list[models.BaseConstraint]:
        approved = models.Q(status=cls.Status.APPROVED)
        return [
            models.CheckConstraint(condition=~models.Q(first_approved_by=models.F("decided_by")),
                                   name=f"{prefix}_two_different_verifiers"),
            models.CheckConstraint(condition=~approved | models.Q(first_approved_by__isnull=False,
                                                                  decided_by__isnull=False),
                                   name=f"{prefix}_approved_by_two"),
        ]

    @property
    def awaiting_second_approval(self) -> bool:
        return self.status == self.Status.PENDING and self.first_approved_by_id is not None


class IdentityVerification(DeskReviewed):
    """Who the talent is, established by the verification desk from sealed evidence: their
    legal name and date of birth (so whether they are a minor)."""

    class Method(models.TextChoices):
        DOCUMENT = "document", "Government ID document"
        IN_PERSON = "in_person", "In person"
        VIDEO_CALL = "video_call", "Live video call"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="verifications")
    method = models.CharField(max_length=16, choices=Method.choices)
    legal_name = models.CharField(max_length=200, blank=True)
    birth_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            *DeskReviewed.desk_constraints("identity_verification"),
            models.CheckConstraint(condition=~models.Q(status="approved") | models.Q(birth_date__isnull=False),
                                   name="identity_verification_approved_with_birth_date"),
        ]

    def __str__(self) -> str:
        return f"verification of {self.talent} ({self.status})"


class SealedEvidence(models.Model):
    """A file of evidence for the verification desk, stored only sealed under the talent's
    key; ``object_ref`` names it in the seal's associated data."""

    REF_PREFIX = ""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    media_type = models.CharField(max_length=40)
    stored_name = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def object_ref(self) -> str:
        return f"{self.REF_PREFIX}:{self.id}"

    def __str__(self) -> str:
        return f"{self.kind} ({self.object_ref})"


class IdentityEvidence(SealedEvidence):
    """An ID document image or a consent capture (a photo or video showing the challenge code)."""

    REF_PREFIX = "identity_evidence"

    class Kind(models.TextChoices):
        ID_DOCUMENT = "id_document", "Identity document"
        CONSENT_CAPTURE = "consent_capture", "Photo or video with the challenge code"

    verification = models.ForeignKey(IdentityVerification, on_delete=models.PROTECT, related_name="evidence")
    kind = models.CharField(max_length=20, choices=Kind.choices)


class Representation(DeskReviewed):
    """A person's verified authority to act for one talent: a guardian of a minor, the
    executor of a deceased person's estate, or an agent a living adult appointed. The
    representative proves their own identity and their authority from sealed evidence;
    two verifiers approve; it is in force from ``valid_from`` to ``valid_until`` unless
    revoked. No studio ever names a representative: licenses find the one on file."""

    class Kind(models.TextChoices):
        GUARDIAN = "guardian", "Guardian of a minor"
        ESTATE = "estate", "Executor of the estate"
        AGENT = "agent", "Authorised agent"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the verification desk"
        APPROVED = "approved", "Approved by two verifiers"
        REJECTED = "rejected", "Rejected"
        REVOKED = "revoked", "Revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="representations")
    representative = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="representations")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    representative_legal_name = models.CharField(max_length=200, blank=True)
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    talent_died_on = models.DateField(null=True, blank=True, help_text="An estate's: the death the evidence establishes.")
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            *DeskReviewed.desk_constraints("representation"),
            models.CheckConstraint(condition=~models.Q(status="approved") | models.Q(valid_from__isnull=False),
                                   name="representation_approved_with_validity"),
            models.CheckConstraint(condition=~models.Q(kind="estate", status="approved")
                                   | models.Q(talent_died_on__isnull=False),
                                   name="representation_estate_with_death"),
            models.CheckConstraint(condition=models.Q(valid_until__isnull=True) | models.Q(valid_from__isnull=True)
                                   | models.Q(valid_until__gte=models.F("valid_from")),
                                   name="representation_validity_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} representation of {self.talent_id} ({self.status})"


class RepresentationEvidence(SealedEvidence):
    """The representative's identity document, a capture with the challenge code, and the
    authority document (birth certificate or court order, letters of administration and
    death certificate, power of attorney)."""

    REF_PREFIX = "representation_evidence"

    class Kind(models.TextChoices):
        ID_DOCUMENT = "id_document", "Representative's identity document"
        CONSENT_CAPTURE = "consent_capture", "Photo or video with the challenge code"
        AUTHORITY = "authority", "Authority document"

    representation = models.ForeignKey(Representation, on_delete=models.PROTECT, related_name="evidence")
    kind = models.CharField(max_length=20, choices=Kind.choices)


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
    excluded_uses = models.JSONField(default=list, blank=True)  # the talent's own words, screened like categories
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
    person's likeness, bound by the SHA-256 of its exact text to every signature on it.

    A NEGOTIATED license is drafted by the licensee's legal staff, signed by the talent side
    and countersigned. A VIEWER license is a viewer's own consent to star in a studio's
    published stories (one story, ``scope_story_id``, or all of them): the platform writes it
    from fixed terms, the viewer alone signs it, and it is in force once signed (the
    published story is the studio's standing offer; no studio member signs or vouches)."""

    class Kind(models.TextChoices):
        NEGOTIATED = "negotiated", "Negotiated license"
        VIEWER = "viewer", "Viewer's consent to star in stories"

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
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NEGOTIATED)
    scope_story_id = models.UUIDField(null=True, blank=True,
                                      help_text="A viewer license for one story; empty for all the studio's stories.")

    project = models.CharField(max_length=200)
    role = models.CharField(max_length=200)
    starts_on = models.DateField()
    ends_on = models.DateField()

    # Established by the verification desk, copied here when the license is drafted: a
    # studio never chooses them.
    capacity = models.CharField(max_length=16, choices=Capacity.choices, default=Capacity.ADULT)
    talent_birth_date = models.DateField(null=True, blank=True)
    # Who signed each side; the database refuses one user on both.
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    signed_under = models.ForeignKey("Representation", on_delete=models.PROTECT, null=True, blank=True, related_name="licenses",
                                     help_text="The representation a guardian or an estate signed under.")
    countersigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="+")

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
            models.CheckConstraint(condition=~models.Q(signed_by=models.F("countersigned_by")),
                                   name="license_signers_differ"),
            models.CheckConstraint(condition=models.Q(kind="viewer") | models.Q(scope_story_id__isnull=True),
                                   name="license_story_scope_only_for_viewers"),
            models.CheckConstraint(condition=~models.Q(kind="viewer") | models.Q(countersigned_by__isnull=True,
                                                                               interactive=True),
                                   name="license_viewer_interactive_never_countersigned"),
        ]

    @property
    def in_force_status(self) -> str:
        """The stored status of an executed license of this kind."""
        return self.Status.SIGNED if self.kind == self.Kind.VIEWER else self.Status.COUNTERSIGNED

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
    representation = models.ForeignKey("Representation", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                       help_text="The representation a guardian or an estate signed under.")

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
        REPRESENTATION = "representation", "No verified representation on file"
        OTHER = "other", "Other"

    license = models.ForeignKey(LikenessLicense, on_delete=models.PROTECT, related_name="suspensions")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(blank=True)
    suspended_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", help_text="Empty when the platform suspended it.")
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


class FaceCheck(models.Model):
    """A viewer's check that their capture (a photo or short video showing the challenge code)
    and their reference photos show the same person, decided by the platform's offline face
    model (consent.faces), never by a studio. The capture and the face descriptors are
    biometric data: stored only sealed under the viewer's key, used for this check, erased
    with the viewer."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the capture"
        PASSED = "passed", "Same person"
        ERASED = "erased", "Erased"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="face_checks")
    challenge_code = models.CharField(max_length=12)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    capture_media_type = models.CharField(max_length=40, blank=True)
    capture_stored_name = models.CharField(max_length=300, blank=True)
    descriptors_stored_name = models.CharField(max_length=300, blank=True)
    distance = models.FloatField(null=True, blank=True, help_text="Median distance, capture to photos.")
    photos_compared = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(status="passed") | models.Q(checked_at__isnull=False,
                                                                                  distance__isnull=False),
                                   name="face_check_passed_with_distance"),
        ]

    @property
    def capture_ref(self) -> str:
        return f"face_check_capture:{self.id}"

    @property
    def descriptors_ref(self) -> str:
        return f"face_check_descriptors:{self.id}"

    def __str__(self) -> str:
        return f"face check of {self.talent_id} ({self.status})"
