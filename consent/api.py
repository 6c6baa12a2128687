"""REST API for consent: talents and their photos, identity verification, licenses.

Views are thin: they scope through selectors (404 outside scope), ask for step-up
authentication before high-risk actions, and call one service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Prefetch
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import UUID_PATTERN, validated
from core.api.idempotency import idempotent
from core.api.output import PlainOutput
from core.client import client_address
from core.errors import NotAllowed
from core.stepup import step_up_api
from consent import desk, license_terms, policies, selectors, services
from consent.certificate import certificate_of_completion, certificate_text
from consent.downloads import identity_evidence_download, representation_evidence_download
from consent.license_terms import RATE_DIGITS, RATE_PLACES, TERMS, Kind, Term
from consent.lifecycle import effective_state
from consent.facts import talent_facts
from consent.models import (
    IdentityEvidence,
    IdentityVerification,
    LikenessLicense,
    Representation,
    RepresentationEvidence,
    SignatureEvent,
    Talent,
)
from consent.services import talent_side_role
from consent.terms import DISCLOSURE_VERSION, ELECTRONIC_RECORDS_DISCLOSURE


def signature_context(request: Request, data: dict[str, Any], method: str) -> services.SignatureContext:
    return services.SignatureContext(
        text_sha256_seen=data["text_sha256"], disclosure_accepted=data["disclosure_accepted"],
        authentication_method=method, ip_address=client_address(request),
        user_agent=request.headers.get("User-Agent", ""), disclosure_version=data["disclosure_version"])


# What the desk stores evidence as (see desk._evidence_plaintext; WebM from before videos were
# re-encoded), and so what a viewer gets back.
EVIDENCE_FILE_RESPONSES = {(200, media_type): bytes
                           for media_type in ("image/png", "application/pdf", "video/mp4", "video/webm")}


# --- serializers -----------------------------------------------------------------------

class TalentOutput(serializers.ModelSerializer):
    identity = serializers.SerializerMethodField(help_text="What the verification desk established, without evidence.")

    class Meta:
        model = Talent
        fields = ["id", "display_name", "created_at", "identity"]

    def get_identity(self, talent: Talent) -> dict[str, Any]:
        facts = talent_facts(talent_id=talent.pk)
        return {"verified": facts.verified, "method": facts.method, "verified_at": facts.verified_at,
                "capacity": facts.capacity_on(timezone.localdate())}


class PhotoInput(serializers.Serializer):
    photo = serializers.FileField(max_length=200, allow_empty_file=True)


class PhotoOutput(serializers.Serializer):
    id = serializers.UUIDField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class EvidenceOutput(serializers.ModelSerializer):
    class Meta:
        model = IdentityEvidence
        fields = ["id", "kind", "media_type", "created_at"]


class VerificationOutput(serializers.ModelSerializer):
    evidence = serializers.SerializerMethodField()

    class Meta:
        model = IdentityVerification
        fields = ["id", "talent", "method", "status", "challenge_code", "requested_at", "legal_name", "birth_date",
                  "awaiting_second_approval", "first_approved_at", "decided_at", "decision_note", "evidence"]

    def get_evidence(self, verification: IdentityVerification) -> list[dict[str, Any]]:
        return EvidenceOutput(verification.evidence.filter(deleted_at__isnull=True), many=True).data


class EvidenceInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=IdentityEvidence.Kind.choices)
    file = serializers.FileField(max_length=200, allow_empty_file=True)


class VerificationInput(serializers.Serializer):
    method = serializers.ChoiceField(choices=IdentityVerification.Method.choices)


class VerificationDecisionInput(serializers.Serializer):
    approve = serializers.BooleanField()
    note = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")
    legal_name = serializers.CharField(max_length=200, required=False, allow_null=True, default=None,
                                       help_text="The first approval records it; a second may repeat it to confirm.")
    birth_date = serializers.DateField(required=False, allow_null=True, default=None)


class RepresentationEvidenceOutput(serializers.ModelSerializer):
    class Meta:
        model = RepresentationEvidence
        fields = ["id", "kind", "media_type", "created_at"]


class RepresentationOutput(serializers.ModelSerializer):
    evidence = serializers.SerializerMethodField()
    representative = serializers.CharField(source="representative.username", read_only=True)

    class Meta:
        model = Representation
        fields = ["id", "kind", "talent", "representative", "status", "challenge_code", "requested_at",
                  "representative_legal_name", "valid_from", "valid_until", "talent_died_on",
                  "awaiting_second_approval", "first_approved_at", "decided_at", "decision_note", "revoked_at",
                  "revocation_reason", "evidence"]

    def get_evidence(self, representation: Representation) -> list[dict[str, Any]]:
        return RepresentationEvidenceOutput(representation.evidence.filter(deleted_at__isnull=True), many=True).data


class RepresentationInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Representation.Kind.choices)
    talent_username = serializers.CharField(max_length=150, required=False, default="",
                                            help_text="The talent represented (yourself when left out).")
    representative_username = serializers.CharField(max_length=150, required=False, default="",
                                                    help_text="Who represents the talent (yourself when left out).")


class RepresentationEvidenceInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RepresentationEvidence.Kind.choices)
    file = serializers.FileField(max_length=200, allow_empty_file=True)


class RepresentationDecisionInput(serializers.Serializer):
    approve = serializers.BooleanField()
    note = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")
    legal_name = serializers.CharField(max_length=200, required=False, allow_null=True, default=None,
                                       help_text="The representative's legal name, as their identity document shows.")
    valid_from = serializers.DateField(required=False, allow_null=True, default=None)
    valid_until = serializers.DateField(required=False, allow_null=True, default=None)
    talent_died_on = serializers.DateField(required=False, allow_null=True, default=None,
                                           help_text="An estate's: the date of death the death certificate shows.")


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class SignatureOutput(PlainOutput, serializers.ModelSerializer):
    class Meta:
        model = SignatureEvent
        fields = ["role", "signed_at", "authentication_method", "disclosure_version", "document_sha256", "intent"]


REVOCATION_EFFECTS = ("Revoking stops every further render and training under this license at once, and destroys "
                      "the likeness model it allowed unless another license still allows it. It does not recall "
                      "outputs already delivered before the revocation: those are listed in the revocation record.")


class LicenseOutput(PlainOutput, serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    talent_side = serializers.SerializerMethodField(help_text="Who signs for the talent, and why, from verified facts.")
    signatures = SignatureOutput(many=True, read_only=True)
    revocation_effects = serializers.SerializerMethodField(help_text="What revoking does, and does not, undo.")

    class Meta:
        model = LikenessLicense
        fields = ["id", "version", "previous", "status", "state", "talent", "licensee", "project", "role",
                  "use_description", "permitted_media", "territories", "languages", "dubbing", "advertising",
                  "interactive", "derivatives", "allows_likeness_model", "excluded_categories",
                  "excluded_uses", "requires_use_approval", "max_renders", "starts_on", "ends_on", "capacity", "talent_side",
                  "representation", "representation_detail", "compensation_basis", "compensation_rate",
                  "compensation_currency", "text", "text_sha256", "created_at", "signatures", "revocation_effects"]

    def get_state(self, license: LikenessLicense) -> str:
        return effective_state(license, timezone.localdate())

    def get_revocation_effects(self, _: LikenessLicense) -> str:
        return REVOCATION_EFFECTS

    def get_talent_side(self, license: LikenessLicense) -> dict[str, Any]:
        side = policies.talent_side(license, signers=self.context.setdefault("talent_signers", {}))
        representation_id = license.signed_under_id or (side.representation.id if side.representation else None)
        return {"capacity": license.capacity, "signs": talent_side_role(license),
                "representation": str(representation_id) if representation_id else None, "why": side.why}


class LicenseSummaryOutput(LicenseOutput):
    """A license in a list: every term and its state, without the contract's full text (the
    license itself has it, and text_sha256 names it) or the revocation notice."""

    class Meta(LicenseOutput.Meta):
        fields = [name for name in LicenseOutput.Meta.fields if name not in ("text", "revocation_effects")]

    signatures = SignatureOutput(many=True, read_only=True, source="signature_list")


def term_field(term: Term) -> serializers.Field:
    """The shape of one license term in the API, from the terms' schema (consent.license_terms).
    The consent service judges the value, as it does the portal's: the two cannot disagree."""
    optional: dict[str, Any] = {} if term.required else {
        "default": list if term.kind in (Kind.CHOICES, Kind.CODES, Kind.PHRASES) else term.default}
    common: dict[str, Any] = {**({"help_text": term.hint} if term.hint else {}), **optional}
    match term.kind:
        case Kind.TEXT | Kind.PROSE:
            return serializers.CharField(max_length=term.max_length, allow_blank=not term.required, **common)
        case Kind.CHOICES | Kind.CODES | Kind.PHRASES:
            return serializers.ListField(child=serializers.CharField(max_length=term.max_length),
                                         max_length=term.max_items, **common)
        case Kind.FLAG:
            return serializers.BooleanField(**common)
        case Kind.COUNT:
            return serializers.IntegerField(min_value=term.min_value, max_value=term.max_value, **common)
        case Kind.DATE:
            return serializers.DateField(**common)
        case Kind.CHOICE:
            return serializers.ChoiceField(choices=list(term.choices), **common)
        case Kind.AMOUNT:
            return serializers.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES, min_value=term.min_value,
                                            **common)
        case Kind.CODE:
            return serializers.RegexField(rf"^{term.pattern}$", **common)
    raise AssertionError(f"No API shape for {term.kind}")


class _LicenseInput(serializers.Serializer):
    talent = serializers.UUIDField()
    licensee = serializers.UUIDField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        claimed = sorted(set(self.initial_data) & set(license_terms.DESK_FACTS))
        if claimed:
            raise serializers.ValidationError({claimed[0]: [license_terms.DESK_FACTS_REFUSAL]})
        return attrs


# A license draft: the talent, the licensee and every term of LICENSE_FIELDS, shaped by its schema.
LicenseInput = type("LicenseInput", (_LicenseInput,), {
    "__module__": __name__,
    **{term.name: term_field(term) for term in TERMS if term.on_license}})


class AmendInput(serializers.Serializer):
    changes = serializers.DictField(allow_empty=False, help_text="The terms to change, named as in a license draft.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Each change is checked as the same term of a draft is (LicenseInput); a refusal names the term."""
        changes = attrs["changes"]
        not_terms = sorted(set(changes) - set(license_terms.LICENSE_FIELDS) - set(license_terms.DESK_FACTS))
        if not_terms:
            raise serializers.ValidationError({not_terms[0]: [
                f"Not a term an amendment changes; the terms are {', '.join(license_terms.LICENSE_FIELDS)}."]})
        terms = LicenseInput(data=changes, partial=True)
        terms.is_valid(raise_exception=True)
        return {"changes": dict(terms.validated_data)}


class SignInput(serializers.Serializer):
    text_sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", help_text="The SHA-256 of the text the signer read.")
    disclosure_accepted = serializers.BooleanField()
    disclosure_version = serializers.CharField(max_length=32, default=DISCLOSURE_VERSION)


class RevokeInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class SuspendInput(serializers.Serializer):
    reason = serializers.ChoiceField(choices=[(reason.value, reason.label) for reason in services.SUSPENSION_REASONS])
    note = serializers.CharField(max_length=2000, allow_blank=True, default="")


class RevocationOutput(serializers.Serializer):
    license = serializers.UUIDField(source="license_id")
    revoked_at = serializers.DateTimeField()
    published_outputs = serializers.ListField(child=serializers.CharField())
    not_undone = serializers.SerializerMethodField()

    def get_not_undone(self, _: Any) -> str:
        return ("Revocation stops every further render at once. Outputs already delivered before it are listed "
                "here and are not recalled by it.")


# --- views -----------------------------------------------------------------------------

class TalentViewSet(viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = TalentOutput
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.talents_for_user(user=self.request.user)

    @extend_schema(request={"multipart/form-data": PhotoInput}, responses={201: PhotoOutput})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def photos(self, request: Request, pk: str) -> Response:
        talent = selectors.talent_get_for_user(user=request.user, talent_id=pk)
        upload = validated(PhotoInput, request)["photo"]
        photo = services.reference_photo_add(talent=talent, data=upload.read(), filename=upload.name,
                                             acting_user=request.user)
        return Response(PhotoOutput(photo).data, status=status.HTTP_201_CREATED)


class VerificationViewSet(viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = VerificationOutput
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.verifications_for_user(user=self.request.user)

    @extend_schema(request=VerificationInput, responses={201: VerificationOutput})
    def create(self, request: Request) -> Response:
        talent = Talent.objects.filter(user=request.user).first()
        if talent is None:
            raise NotAllowed("Only an enrolled talent can ask for their identity to be verified.")
        data = validated(VerificationInput, request)
        return idempotent(request, lambda: Response(VerificationOutput(desk.identity_verification_request(
            talent=talent, method=data["method"], acting_user=request.user)).data, status=status.HTTP_201_CREATED))

    @extend_schema(request={"multipart/form-data": EvidenceInput}, responses={201: EvidenceOutput})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def evidence(self, request: Request, pk: str) -> Response:
        verification = selectors.verification_get_for_user(user=request.user, verification_id=pk)
        data = validated(EvidenceInput, request)
        evidence = desk.identity_evidence_add(verification=verification, kind=data["kind"], data=data["file"].read(),
                                                  filename=data["file"].name, acting_user=request.user)
        return Response(EvidenceOutput(evidence).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=EVIDENCE_FILE_RESPONSES)
    @action(detail=True, methods=["get"], url_path=f"evidence/(?P<evidence_id>{UUID_PATTERN})")
    def evidence_file(self, request: Request, pk: str, evidence_id: str) -> HttpResponse:
        """Verifiers (and the talent) view the decrypted evidence; each viewing is audited."""
        verification = selectors.verification_get_for_user(user=request.user, verification_id=pk)
        evidence = selectors.evidence_get(verification=verification, evidence_id=evidence_id)
        return identity_evidence_download(evidence=evidence, acting_user=request.user)

    @extend_schema(request=VerificationDecisionInput, responses=VerificationOutput)
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str) -> Response:
        """A verifier of the desk approves (the first records the facts, a second confirms) or rejects."""
        verification = selectors.verification_get_for_user(user=request.user, verification_id=pk)
        data = validated(VerificationDecisionInput, request)
        step_up_api(request)
        verification = desk.identity_verification_decide(verification=verification, acting_user=request.user, **data)
        return Response(VerificationOutput(verification).data)


class RepresentationViewSet(viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Guardians, estates' executors and agents: asked for by the talent or the representative,
    proved by the representative's evidence, decided by two verifiers of the desk."""

    serializer_class = RepresentationOutput
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.representations_for_user(user=self.request.user)

    def _representation(self, pk: str) -> Representation:
        return selectors.representation_get_for_user(user=self.request.user, representation_id=pk)

    @extend_schema(request=RepresentationInput, responses={201: RepresentationOutput})
    def create(self, request: Request) -> Response:
        data = validated(RepresentationInput, request)
        parties = selectors.representation_parties(user=request.user, talent_username=data["talent_username"],
                                                   representative_username=data["representative_username"])
        return idempotent(request, lambda: Response(RepresentationOutput(desk.representation_request(
            talent=parties.talent, representative=parties.representative, kind=data["kind"],
            acting_user=request.user)).data, status=status.HTTP_201_CREATED))

    @extend_schema(request={"multipart/form-data": RepresentationEvidenceInput},
                   responses={201: RepresentationEvidenceOutput})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def evidence(self, request: Request, pk: str) -> Response:
        representation = self._representation(pk)
        data = validated(RepresentationEvidenceInput, request)
        evidence = desk.representation_evidence_add(representation=representation, kind=data["kind"],
                                                    data=data["file"].read(), filename=data["file"].name,
                                                    acting_user=request.user)
        return Response(RepresentationEvidenceOutput(evidence).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=EVIDENCE_FILE_RESPONSES)
    @action(detail=True, methods=["get"], url_path=f"evidence/(?P<evidence_id>{UUID_PATTERN})")
    def evidence_file(self, request: Request, pk: str, evidence_id: str) -> HttpResponse:
        """Verifiers (and the representative) view the decrypted evidence; each viewing is audited."""
        evidence = selectors.representation_evidence_get(representation=self._representation(pk),
                                                         evidence_id=evidence_id)
        return representation_evidence_download(evidence=evidence, acting_user=request.user)

    @extend_schema(request=RepresentationDecisionInput, responses=RepresentationOutput)
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str) -> Response:
        representation = self._representation(pk)
        data = validated(RepresentationDecisionInput, request)
        step_up_api(request)
        return Response(RepresentationOutput(desk.representation_decide(
            representation=representation, acting_user=request.user, **data)).data)

    @extend_schema(request=ReasonInput, responses=RepresentationOutput)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        representation = self._representation(pk)
        data = validated(ReasonInput, request)
        step_up_api(request)
        return Response(RepresentationOutput(desk.representation_revoke(
            representation=representation, reason=data["reason"], acting_user=request.user)).data)


class LicenseViewSet(viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = LicenseOutput
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):  # type: ignore[no-untyped-def]
        licenses = selectors.licenses_for_user(user=self.request.user)
        if self.action != "list":
            return licenses
        # A page reads every license's signatures in one query into a plain list: through the
        # related manager each license would build a queryset of its own for them. A summary
        # names the licensee and the representation signed under by id: only the talent is joined.
        return licenses.defer("text").select_related(None).select_related("talent").prefetch_related(None) \
            .prefetch_related(Prefetch("signatures", to_attr="signature_list"))

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        return LicenseSummaryOutput if self.action == "list" else LicenseOutput

    def _license(self, pk: str) -> LikenessLicense:
        return selectors.license_get_for_user(user=self.request.user, license_id=pk)

    def _output(self, license: LikenessLicense, code: int = status.HTTP_200_OK) -> Response:
        license.refresh_from_db()
        return Response(LicenseOutput(license).data, status=code)

    @extend_schema(request=LicenseInput, responses={201: LicenseOutput})
    def create(self, request: Request) -> Response:
        data = validated(LicenseInput, request)
        licensee = policies.legal_organizations(request.user).filter(pk=data.pop("licensee")).first()
        talent = selectors.talents_for_user(user=request.user).filter(pk=data.pop("talent")).first()
        if licensee is None or talent is None:
            raise NotAllowed("Draft licenses for your own studio, with a talent you can see.", code="not_found")
        return idempotent(request, lambda: self._output(services.license_draft(
            talent=talent, licensee=licensee, acting_user=request.user, **data), status.HTTP_201_CREATED))

    @extend_schema(request=None, responses=LicenseOutput)
    @action(detail=True, methods=["post"])
    def offer(self, request: Request, pk: str) -> Response:
        return self._output(services.license_offer(license=self._license(pk), acting_user=request.user))

    @extend_schema(request=SignInput, responses=LicenseOutput)
    @action(detail=True, methods=["post"])
    def sign(self, request: Request, pk: str) -> Response:
        return self._signed(request, pk, services.license_sign)

    @extend_schema(request=SignInput, responses=LicenseOutput)
    @action(detail=True, methods=["post"])
    def countersign(self, request: Request, pk: str) -> Response:
        return self._signed(request, pk, services.license_countersign)

    def _signed(self, request: Request, pk: str, signing: Callable[..., LikenessLicense]) -> Response:
        license = self._license(pk)
        data = validated(SignInput, request)
        context = signature_context(request, data, step_up_api(request))
        return self._output(signing(license=license, context=context, acting_user=request.user))

    @extend_schema(request=RevokeInput, responses=RevocationOutput)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        license = self._license(pk)
        data = validated(RevokeInput, request)
        refusal = policies.refuse_license_revoke(user=request.user, license=license)
        if refusal is not None:
            raise refusal  # before the step-up: a refused revocation spends no code
        step_up_api(request)
        revocation = services.license_revoke(license=license, reason=data["reason"], acting_user=request.user)
        return Response(RevocationOutput(revocation).data)

    @extend_schema(request=SuspendInput, responses=LicenseOutput)
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, pk: str) -> Response:
        license = self._license(pk)
        data = validated(SuspendInput, request)
        services.license_suspend(license=license, reason=data["reason"], note=data["note"], acting_user=request.user)
        return self._output(license)

    @extend_schema(request=None, responses=LicenseOutput)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        return self._output(services.license_resume(license=self._license(pk), acting_user=request.user))

    @extend_schema(request=AmendInput, responses={201: LicenseOutput})
    @action(detail=True, methods=["post"])
    def amend(self, request: Request, pk: str) -> Response:
        license = self._license(pk)
        changes = validated(AmendInput, request)["changes"]
        return self._output(services.license_amend(license=license, changes=changes, acting_user=request.user),
                            status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: {"type": "object"}}, parameters=[OpenApiParameter(
        "as", str, enum=["json", "text"], description="text: a plain-text certificate to download")])
    @action(detail=True, methods=["get"])
    def certificate(self, request: Request, pk: str) -> Response | HttpResponse:
        certificate = certificate_of_completion(self._license(pk), viewer=request.user)
        if request.query_params.get("as") == "text":
            response = HttpResponse(certificate_text(certificate), content_type="text/plain; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="certificate-{pk}.txt"'
            return response
        return Response(certificate)

    @extend_schema(request=None, responses={200: {"type": "object"}})
    @action(detail=False, methods=["get"], url_path="disclosure")
    def disclosure(self, request: Request) -> Response:
        return Response({"version": DISCLOSURE_VERSION, "text": ELECTRONIC_RECORDS_DISCLOSURE})
