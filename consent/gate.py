"""THE CONSENT GATE: the one place that decides whether a likeness may be used.

Generation calls it when a render is requested, when a worker claims the job, every
few denoising steps and, with the license row locked, inside the transaction that
publishes the output (`authorize_publication`). `license_revoke` takes the same lock,
so an output is either published before a revocation commits (and listed by it) or
never published. Any error while deciding is a refusal, and every refusal is audited.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import Exists, F, Func, IntegerField, OuterRef, QuerySet, Subquery
from django.utils import timezone

from audit.services import audit_append
from core.errors import ApplicationError
from core.locking import Rank, claim
from consent.content_policy import OWN_EXCLUSION, excluded_hits
from consent.facts import (
    SIGNING_REPRESENTATION,
    TalentFacts,
    representation_holds_annotation,
    talent_facts_annotations,
    talent_facts_from,
    viewer_face_checked_annotation,
)
from consent.lifecycle import effective_state, minor_term_cap
from consent.models import (
    LicenseRevocation,
    LicenseUse,
    LikenessLicense,
    LikenessModel,
    Membership,
    SignatureEvent,
    UseApproval,
)
from consent.terms import text_sha256

logger = logging.getLogger(__name__)


class Stage(StrEnum):
    REQUEST = "request"
    CLAIM = "claim"
    STEP = "step"
    PUBLISH = "publish"


class Reason(StrEnum):
    LICENSE_NOT_FOUND = "license_not_found"
    TALENT_UNVERIFIED = "talent_unverified"
    NOT_SIGNED = "license_not_signed"
    NOT_COUNTERSIGNED = "license_not_countersigned"
    TEXT_CHANGED = "license_text_changed"
    SIGNERS_NOT_SEPARATE = "license_signers_not_separate"
    CAPACITY_CHANGED = "capacity_changed"
    TALENT_SIDE_NOT_IN_FORCE = "talent_side_not_in_force"
    NOT_STARTED = "license_not_started"
    EXPIRED = "license_expired"
    REVOKED = "license_revoked"
    SUSPENDED = "license_suspended"
    SUPERSEDED = "license_superseded"
    MINOR_TERM_CAP = "minor_term_cap_passed"
    RENDER_LIMIT_REACHED = "render_limit_reached"
    MEDIUM_NOT_PERMITTED = "medium_not_permitted"
    INTERACTIVE_NOT_PERMITTED = "interactive_not_permitted"
    OUTSIDE_STORY_SCOPE = "outside_story_scope"
    VIEWER_FACE_UNCHECKED = "viewer_face_unchecked"
    EXCLUDED_CONTENT = "excluded_content"
    LIKENESS_MODEL_NOT_PERMITTED = "likeness_model_not_permitted"
    LIKENESS_MODEL_UNAVAILABLE = "likeness_model_unavailable"
    USE_NOT_APPROVED = "use_not_approved"
    GATE_ERROR = "gate_error"


class Purpose(StrEnum):
    RENDER = "render"
    TRAIN = "train"


@dataclass(frozen=True)
class UseRequest:
    license_id: str
    medium: str
    prompt: str
    purpose: Purpose = Purpose.RENDER
    likeness_model_id: str | None = None
    job_ref: str | None = None  # a requested use; None while it is being requested
    interactive: bool = False  # a use inside an interactive story (a viewer steers what is rendered)
    story_id: str | None = None  # the story an interactive use plays in (a viewer's consent may name one story)


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    stage: Stage
    license_id: str
    reason: Reason | None = None
    message: str = ""

    def as_dict(self) -> dict[str, str | bool | None]:
        return {"allowed": self.allowed, "stage": str(self.stage), "license_id": self.license_id,
                "reason": str(self.reason) if self.reason else None, "message": self.message}


class ConsentRefused(ApplicationError):
    """A refused use, answered like any service error (HTTP 409) with the gate's reason."""

    code = "consent_refused"

    def __init__(self, decision: GateDecision) -> None:
        super().__init__(decision.message, errors={"reason": str(decision.reason)})
        self.decision = decision


def check(*, use: UseRequest, stage: Stage, actor: str, subject: str) -> GateDecision:
    """Decide without locking. A refusal is written to the audit log before returning."""
    return _decide(use=use, stage=stage, actor=actor, subject=subject, lock=False)


def authorize_publication(*, use: UseRequest, output_ref: str, job_ref: str, subject: str, actor: str) -> GateDecision:
    """The last check: lock the license row, decide, and record the use when allowed.

    Must run inside the transaction that publishes the output, so the use record and the
    output commit together or not at all.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("authorize_publication must run inside the publishing transaction")
    decision = _decide(use=use, stage=Stage.PUBLISH, actor=actor, subject=subject, lock=True)
    if decision.allowed:
        LicenseUse.objects.create(license_id=use.license_id, output_ref=output_ref, job_ref=job_ref)
        audit_append(action="consent.use_recorded", actor=actor, subject=f"license:{use.license_id}",
                     data={"output": output_ref, "job": job_ref})
    return decision


def check_locked(*, use: UseRequest, stage: Stage, actor: str, subject: str) -> GateDecision:
    """Decide with the license row locked (as revocation locks it): inside the caller's
    transaction, so what the caller commits next cannot race a revocation."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("check_locked must run inside the caller's transaction")
    return _decide(use=use, stage=stage, actor=actor, subject=subject, lock=True)


def _decide(*, use: UseRequest, stage: Stage, actor: str, subject: str, lock: bool) -> GateDecision:
    if lock:  # outside the try: a lock taken out of order is a bug to raise, not a refusal to record
        claim(Rank.LICENSE, rows=[_uuid_or_none(use.license_id)])
    try:
        # Inside a transaction, a savepoint: an error while deciding leaves the caller's
        # transaction usable. Outside one (an unlocked check) each read commits on its own and
        # BEGIN/COMMIT would only add two round trips; the locked check is the one that counts.
        with transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext():
            reason, message = _evaluate(use, lock=lock)
    except Exception:  # fail closed: an error while deciding is a refusal
        logger.exception("consent gate error for license %s", use.license_id)
        reason, message = Reason.GATE_ERROR, "The consent check could not be completed, so the use is refused."
    if reason is None:
        return GateDecision(True, stage, use.license_id)
    audit_append(action="consent.gate_refused", actor=actor, subject=subject,
                 data={"license": use.license_id, "stage": str(stage), "reason": str(reason)})
    return GateDecision(False, stage, use.license_id, reason, message)


def _evaluate(use: UseRequest, *, lock: bool) -> tuple[Reason | None, str]:
    license_id = _uuid_or_none(use.license_id)
    if license_id is None:
        return Reason.LICENSE_NOT_FOUND, "No such license."
    connection = transaction.get_connection()
    today = timezone.localdate()
    if lock and _lock_license_row(connection, license_id, today=today) is None:
        return Reason.LICENSE_NOT_FOUND, "No such license."
    # Read after the lock is granted, in a statement of its own: a subquery of the locking
    # statement would see the rows as they were before it waited (a use or a revocation
    # committed by the transaction it waited for would be missed).
    license = _read_with_standing(connection, license_id, today=today, job_ref=use.job_ref)
    if license is None:
        return Reason.LICENSE_NOT_FOUND, "No such license."
    reason, message = _refusal(license, _standing_of(license), today)
    if reason is not None:
        return reason, message
    if use.purpose == Purpose.TRAIN or use.likeness_model_id is not None:
        if not license.allows_likeness_model:
            return Reason.LIKENESS_MODEL_NOT_PERMITTED, "The license does not allow a model of the talent's likeness."
    if use.purpose == Purpose.TRAIN:
        return None, ""
    if use.medium not in license.permitted_media:
        return Reason.MEDIUM_NOT_PERMITTED, f"The license does not permit {use.medium} uses."
    if use.interactive and not license.interactive:
        return Reason.INTERACTIVE_NOT_PERMITTED, "The license does not allow interactive use."
    if license.kind == LikenessLicense.Kind.VIEWER:
        if not use.interactive or use.story_id is None:
            return (Reason.OUTSIDE_STORY_SCOPE, "A viewer's consent covers only the scenes of the stories they play, "
                    "nothing else.")
        if license.scope_story_id is not None and str(license.scope_story_id) != str(use.story_id):
            return Reason.OUTSIDE_STORY_SCOPE, "The viewer consented to star in another story, not this one."
    hits = excluded_hits(use.prompt, list(license.excluded_categories), languages=list(license.languages),
                         own_exclusions=list(license.excluded_uses))
    if hits:
        category, word = hits[0]
        if category == OWN_EXCLUSION:
            return Reason.EXCLUDED_CONTENT, f"The prompt touches a use the talent excluded: '{word}'."
        return Reason.EXCLUDED_CONTENT, f"The prompt touches the excluded category '{category}' ('{word}')."
    if use.likeness_model_id is not None and not LikenessModel.objects.filter(
            pk=_uuid_or_none(use.likeness_model_id), license_id__in=license_lineage(license),
            status=LikenessModel.Status.ACTIVE).exists():
        # Revoking retires the model: a revocation that committed between the two reads above
        # is the real reason, and the one a viewer or producer should be told.
        fresh = license_refusal(LikenessLicense.objects.get(pk=license.pk))
        if fresh[0] is not None:
            return fresh
        return (Reason.LIKENESS_MODEL_UNAVAILABLE, "The likeness model is not available under this license: a model "
                "renders only under the license it was trained under, or that license's amendments.")
    if license.requires_use_approval and use.job_ref is not None and not license.use_approved:
        return Reason.USE_NOT_APPROVED, "The talent has not approved this use."
    if license.use_count >= license.max_renders:
        return Reason.RENDER_LIMIT_REACHED, f"All {license.max_renders} renders allowed by the license are used."
    return None, ""


def license_lineage(license: LikenessLicense) -> list[object]:
    """The license and every version it amends, newest first."""
    lineage, current = [license.pk], license.previous_id
    while current is not None and current not in lineage:
        lineage.append(current)
        current = LikenessLicense.objects.filter(pk=current).values_list("previous_id", flat=True).first()
    return lineage


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class _Standing:
    """What a license's standing rests on beyond its own columns, read in one statement (_with_standing)."""

    revoked: bool
    facts: TalentFacts
    talent_user_id: int
    signatures: int  # one per role at most
    talent_signatures: int
    stale_signatures: int  # signed over a text other than the license's recorded text_sha256
    representative_id: int | None
    representation_kind: str | None
    representation_holds: bool
    representative_is_member: bool  # of the licensee
    signer_is_member: bool  # of the licensee
    face_checked: bool


def _count(rows: QuerySet) -> Subquery:
    return Subquery(rows.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n"),
                    output_field=IntegerField())


def _with_standing(licenses: QuerySet, *, today: date, job_ref: object) -> QuerySet:
    """The licenses annotated with their _Standing, the uses recorded under them and whether
    the talent approved the job (`job_ref`: the job, or a placeholder for it)."""
    signatures = SignatureEvent.objects.filter(license_id=OuterRef("pk"))
    members = Membership.objects.filter(organization_id=OuterRef("licensee_id"))
    return licenses.annotate(
        revoked=Exists(LicenseRevocation.objects.filter(license_id=OuterRef("pk"))),
        **talent_facts_annotations("talent_id"),
        talent_user_id=F("talent__user_id"),
        signature_count=_count(signatures),
        talent_signature_count=_count(signatures.filter(role=SignatureEvent.Role.TALENT)),
        stale_signature_count=_count(signatures.exclude(document_sha256=OuterRef("text_sha256"))),
        representative_id=F("signed_under__representative_id"),
        representation_kind=F("signed_under__kind"),
        representation_holds=representation_holds_annotation("signed_under_id", on=today),
        representative_is_member=Exists(members.filter(user_id=OuterRef("signed_under__representative_id"))),
        signer_is_member=Exists(members.filter(user_id=OuterRef("signed_by_id"))),
        face_checked=viewer_face_checked_annotation("talent_id"),
        use_count=_count(LicenseUse.objects.filter(license_id=OuterRef("pk"))),
        # a job_ref of None (a use being requested) compares unknown: no approval is found
        use_approved=Exists(UseApproval.objects.filter(license_id=OuterRef("pk"), job_ref=job_ref,
                                                      status=UseApproval.Status.APPROVED)),
    )


def _standing_of(license: LikenessLicense) -> _Standing:
    row = license.__dict__
    return _Standing(revoked=row["revoked"], facts=talent_facts_from(row), talent_user_id=row["talent_user_id"],
                     signatures=row["signature_count"], talent_signatures=row["talent_signature_count"],
                     stale_signatures=row["stale_signature_count"], representative_id=row["representative_id"],
                     representation_kind=row["representation_kind"],
                     representation_holds=row["representation_holds"],
                     representative_is_member=row["representative_is_member"],
                     signer_is_member=row["signer_is_member"], face_checked=row["face_checked"])


def license_refusal(license: LikenessLicense, *, today: date | None = None) -> tuple[Reason | None, str]:
    """Why a license is not in force today (None when it is), whatever the use."""
    today = today or timezone.localdate()
    standing = _read_with_standing(transaction.get_connection(), license.pk, today=today, job_ref=None)
    if standing is None:
        return Reason.LICENSE_NOT_FOUND, "No such license."
    return _refusal(license, _standing_of(standing), today)


# Stand-ins for the values a compiled statement is run with (never a real license or job).
_LICENSE_PLACEHOLDER = uuid.uuid4()
_JOB_PLACEHOLDER = f"job-placeholder-{uuid.uuid4()}"


class _Statement:
    """A queryset compiled once, run many times with another license (and job).

    Django takes longer to compile the gate's read than the database takes to run it, and
    every check would compile the same SQL again; this keeps the SQL, the positions of the
    placeholder values among its parameters and the converters of its columns, so a check
    costs one round trip and the reading of one row.
    """

    def __init__(self, queryset: QuerySet, connection: BaseDatabaseWrapper) -> None:
        compiler = queryset.query.get_compiler(connection=connection)
        self.sql, params = compiler.as_sql()
        self.params = list(params)
        self.compiler = compiler
        select = [expression for expression, _, _ in compiler.select]
        self.names = [alias for _, _, alias in compiler.select]  # None for the model's own columns
        self.converters = compiler.get_converters(select)
        license_param = LikenessLicense._meta.pk.get_db_prep_value(_LICENSE_PLACEHOLDER, connection)
        self.license_at = [i for i, value in enumerate(self.params) if value == license_param]
        self.job_at = [i for i, value in enumerate(self.params) if value == _JOB_PLACEHOLDER]

    def params_for(self, license_id: uuid.UUID, job_ref: str | None) -> list[object]:
        params = list(self.params)
        for i in self.license_at:
            params[i] = LikenessLicense._meta.pk.get_db_prep_value(license_id, self.compiler.connection)
        for i in self.job_at:
            params[i] = job_ref
        return params

    def row(self, license_id: uuid.UUID, job_ref: str | None) -> list[object] | None:
        with _cursor(self.compiler.connection) as cursor:
            cursor.execute(self.sql, self.params_for(license_id, job_ref))
            row = cursor.fetchone()
        if row is None or not self.converters:
            return row
        return next(self.compiler.apply_converters([row], self.converters))


def _cursor(connection: BaseDatabaseWrapper) -> CursorWrapper:
    """A cursor whose statements PostgreSQL may keep prepared (planned once per connection).

    Planning the gate's read takes longer than running it. Django's cursors bind values on
    the client, which rules preparation out; this one binds them on the server, so the
    connection's ``prepare_threshold`` (settings: DATABASE_PREPARED_STATEMENTS) applies. Queries
    are logged and wrapped as through ``connection.cursor()``.
    """
    if connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    raw = ServerBindingCursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


_STATEMENTS = "_bespoke_gate_statements"  # attribute on the connection holding its compiled statements


def _statement(connection: BaseDatabaseWrapper, name: str, day: date, build: Callable[[], QuerySet]) -> _Statement:
    """The statement ``name`` compiled for this connection and day (a connection belongs to one thread)."""
    statements: dict[str, tuple[date, _Statement]] = connection.__dict__.setdefault(_STATEMENTS, {})
    found = statements.get(name)
    if found is None or found[0] != day:  # yesterday's statement is not needed again
        found = statements[name] = (day, _Statement(build(), connection))
    return found[1]


def forget_compiled_statements() -> None:
    """Compile the gate's read again at the next check: for tests that replace the code it is built from."""
    transaction.get_connection().__dict__.pop(_STATEMENTS, None)


def _read_with_standing(connection: BaseDatabaseWrapper, license_id: uuid.UUID, *, today: date,
                        job_ref: str | None) -> LikenessLicense | None:
    """The license with its _Standing (and whether the talent approved the job) as attributes."""
    statement = _statement(connection, "read", today, lambda: _with_standing(
        LikenessLicense.objects.filter(pk=_LICENSE_PLACEHOLDER), today=today, job_ref=_JOB_PLACEHOLDER))
    row = statement.row(license_id, job_ref)
    if row is None:
        return None
    fields = len(LikenessLicense._meta.concrete_fields)
    license = LikenessLicense.from_db(connection.alias, None, row[:fields])
    license.__dict__.update(zip(statement.names[fields:], row[fields:]))
    return license


def _lock_license_row(connection: BaseDatabaseWrapper, license_id: uuid.UUID, *, today: date) -> object | None:
    """SELECT ... FOR UPDATE of the license row (its id, or None when there is no such license)."""
    statement = _statement(connection, "lock", today, lambda: LikenessLicense.objects.select_for_update().filter(
        pk=_LICENSE_PLACEHOLDER).values_list("pk")[:1])
    row = statement.row(license_id, None)
    return None if row is None else row[0]


def _refusal(license: LikenessLicense, standing: _Standing, today: date) -> tuple[Reason | None, str]:
    status = license.status
    S = LikenessLicense.Status
    if status == S.REVOKED or standing.revoked:
        return Reason.REVOKED, "The talent revoked this license."
    if status == S.SUPERSEDED:
        return Reason.SUPERSEDED, "An amendment superseded this license; use its latest version."
    if status == S.SUSPENDED:
        return Reason.SUSPENDED, "This license is suspended (a strike or a dispute)."
    if status in (S.DRAFT, S.OFFERED):
        return Reason.NOT_SIGNED, "The talent has not signed this license."
    if status == S.SIGNED and license.kind != LikenessLicense.Kind.VIEWER:
        return Reason.NOT_COUNTERSIGNED, "Legal has not countersigned this license."
    if status == S.EXPIRED or today > license.ends_on:
        return Reason.EXPIRED, f"The license ended on {license.ends_on.isoformat()}."
    if license.kind == LikenessLicense.Kind.VIEWER:
        return _viewer_refusal(license, standing, today)
    facts = standing.facts
    if not facts.verified:
        return Reason.TALENT_UNVERIFIED, "The verification desk has not verified the talent's identity."
    if standing.signatures < 2 or standing.stale_signatures or license.text_sha256 != text_sha256(license.text):
        return Reason.TEXT_CHANGED, "The license text no longer matches what was signed."
    if license.signed_by_id is None or license.countersigned_by_id is None \
            or license.signed_by_id == license.countersigned_by_id:
        return Reason.SIGNERS_NOT_SEPARATE, "The two sides of this license were not signed by two different people."
    if today < license.starts_on:
        return Reason.NOT_STARTED, f"The license starts on {license.starts_on.isoformat()}."
    if license.capacity == LikenessLicense.Capacity.MINOR:
        cap = minor_term_cap(starts_on=license.starts_on, birth_date=facts.birth_date)
        if today > cap:
            return Reason.MINOR_TERM_CAP, f"A minor's license ends by their 18th birthday and within five years ({cap})."
    return _talent_side_refusal(license, standing, today)


def _viewer_refusal(license: LikenessLicense, standing: _Standing, today: date) -> tuple[Reason | None, str]:
    """A viewer's own consent is in force once the viewer alone signed its exact text, after the
    platform checked their face, while they are not a member of the studio it is for."""
    if license.status != LikenessLicense.Status.SIGNED or license.countersigned_by_id is not None:
        return Reason.NOT_SIGNED, "The viewer has not signed this consent."
    if not standing.face_checked:
        return Reason.VIEWER_FACE_UNCHECKED, "The platform has not checked the viewer's face against their photos."
    if standing.signatures != 1 or standing.talent_signatures != 1 or standing.stale_signatures \
            or license.text_sha256 != text_sha256(license.text):
        return Reason.TEXT_CHANGED, "The consent's text no longer matches what the viewer signed."
    if license.signed_by_id != standing.talent_user_id:
        return Reason.TALENT_SIDE_NOT_IN_FORCE, "The viewer did not sign this consent themself."
    if standing.signer_is_member:
        return Reason.TALENT_SIDE_NOT_IN_FORCE, "The viewer is a member of the studio this consent is for."
    if today < license.starts_on:
        return Reason.NOT_STARTED, f"The consent starts on {license.starts_on.isoformat()}."
    return None, ""


def _talent_side_refusal(license: LikenessLicense, standing: _Standing, today: date) -> tuple[Reason | None, str]:
    """The talent side was signed by whoever the verified facts say signs for the talent,
    and that still holds: the talent, a living adult; or a representation still in force."""
    if standing.facts.capacity_on(today) != license.capacity:
        return (Reason.CAPACITY_CHANGED, f"The verified facts no longer make the talent {license.capacity}, the "
                "capacity this license was signed in.")
    if license.capacity == LikenessLicense.Capacity.ADULT:
        if license.signed_by_id != standing.talent_user_id:
            return Reason.TALENT_SIDE_NOT_IN_FORCE, "The talent did not sign this license themself."
        return None, ""
    if standing.representative_id is None or standing.representative_id != license.signed_by_id \
            or standing.representation_kind != SIGNING_REPRESENTATION[license.capacity] \
            or not standing.representation_holds or standing.representative_is_member:
        return (Reason.TALENT_SIDE_NOT_IN_FORCE, "The representation that signed for the talent is not in force "
                "(revoked, ended, or held by a member of the licensee).")
    return None, ""


@dataclass(frozen=True)
class ConsentReference:
    license_id: str
    license_text_sha256: str
    status_url: str


def consent_reference(*, license_id: str) -> ConsentReference:
    """The pseudonymous pointer to a license that travels inside output manifests."""
    license = LikenessLicense.objects.only("id", "text_sha256").get(pk=license_id)
    return ConsentReference(str(license.id), license.text_sha256,
                            f"{settings.BESPOKE_PUBLIC_URL}/verify/consent/{license.id}")


CONSENT_STATES = ("active", "suspended", "superseded", "expired", "revoked", "not_in_force", "unknown")


@dataclass(frozen=True)
class ConsentStatus:
    license_id: str
    state: str  # one of CONSENT_STATES
    since: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"license_id": self.license_id, "state": self.state, "since": self.since}


def consent_status(*, license_id: str, today: date | None = None) -> ConsentStatus:
    """Whether the consent behind a license is in force today, with no personal data.

    The state is one of the seven CONSENT_STATES, ``since`` the date (or time) it began:
    "active" (countersigned and within its term; since its first day), "suspended" and
    "superseded" (since the change), "expired" (past its end date, whether or not the nightly
    sweep has recorded it; since its end date), "revoked" (since the revocation),
    "not_in_force" (a draft, an offer, signed but not countersigned, or countersigned before
    its first day; no since) and "unknown" (no such license; no since).
    """
    today = today or timezone.localdate()
    try:
        license = LikenessLicense.objects.get(pk=uuid.UUID(str(license_id)))
    except (LikenessLicense.DoesNotExist, ValueError):
        return ConsentStatus(str(license_id), "unknown")
    revocation = LicenseRevocation.objects.filter(license=license).first()
    if revocation:
        return ConsentStatus(str(license.id), "revoked", revocation.revoked_at.isoformat())
    state = effective_state(license, today)
    since = {"expired": license.ends_on.isoformat(), "active": license.starts_on.isoformat()}.get(state,
                                                                                             license.status_changed_at.isoformat())
    if state in ("active", "expired", "suspended", "superseded"):
        return ConsentStatus(str(license.id), state, since)
    return ConsentStatus(str(license.id), "not_in_force")


def use_requires_approval(*, license_id: str) -> bool:
    return LikenessLicense.objects.filter(pk=_uuid_or_none(license_id), requires_use_approval=True).exists()


def excluded_categories(*, license_id: str) -> tuple[str, ...]:
    """The content categories the license excludes (none for an unknown license, which the gate refuses anyway)."""
    categories = LikenessLicense.objects.filter(pk=_uuid_or_none(license_id)).values_list(
        "excluded_categories", flat=True).first()
    return tuple(categories or ())


def requester_may_request(*, user_id: object, license_id: str) -> bool:
    """Whether this user may ask for work under the license: a producer of the studio that
    holds it, or, for a viewer's own consent, that viewer alone (never the studio)."""
    try:
        license_uuid = uuid.UUID(str(license_id))
    except ValueError:
        return False
    license = LikenessLicense.objects.filter(pk=license_uuid).only("kind", "talent__user_id").select_related(
        "talent").first()
    if license is None:
        return False
    if license.kind == LikenessLicense.Kind.VIEWER:
        return license.talent.user_id == user_id
    return requester_is_licensee(user_id=user_id, license_id=license_id)


def requester_is_licensee(*, user_id: object, license_id: str) -> bool:
    """Whether this user produces for the studio that holds the license."""
    try:
        license_uuid = uuid.UUID(str(license_id))
    except ValueError:
        return False
    return Membership.objects.filter(
        user_id=user_id, role=Membership.Role.PRODUCER,
        organization__licenses__id=license_uuid,
    ).exists()
