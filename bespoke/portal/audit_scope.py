"""Which audit events an organisation's legal staff and auditors may read, and the chain's status.

An event is about an organisation's objects when its subject names one of them: the
organisation itself (memberships), its licenses (drafting, signatures, uses, gate
refusals, approvals), its likeness models, its license templates, and the render and
training jobs made under its licenses. Subjects are "<kind>:<uuid>" strings, so each
scope is a subquery of such strings built in the database: the audit log is never
read into memory to be filtered. Events about a talent or a user account (identity
checks, photos, sign-ins) belong to that person, not to a licensee, and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from django.db import connection
from django.db.models import CharField, F, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Concat, Replace, Substr

from audit.checkpoints import audit_log_verify
from consent.models import LicenseTemplate, LikenessLicense, LikenessModel, Membership, Organization
from generation.models import RenderJob, TrainingJob


def _subject(kind: str, field: str = "id") -> Concat:
    """'<kind>:<uuid with dashes>' from a UUID column, the same on SQLite (stored as 32 hex
    digits, dashes put back) and PostgreSQL (a uuid cast to text has them)."""
    if connection.vendor == "postgresql":
        return Concat(Value(f"{kind}:"), Cast(F(field), output_field=CharField()), output_field=CharField())
    hex_digits = Replace(Cast(F(field), output_field=CharField()), Value("-"), Value(""))
    parts: list[object] = [Value(f"{kind}:")]
    for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12)):
        if start > 1:
            parts.append(Value("-"))
        parts.append(Substr(hex_digits, start, length))
    return Concat(*parts, output_field=CharField())


def audit_organizations_for_user(*, user: object) -> QuerySet[Organization]:
    """The organisations whose audit trail the user reads: where they are legal staff or auditor."""
    return Organization.objects.filter(id__in=Membership.objects.filter(
        user=user, role__in=(Membership.Role.LEGAL, Membership.Role.AUDITOR)).values("organization_id"))


def organization_audit_subjects(*, organizations: Iterable[Organization]) -> list[RawSQL]:
    """One subquery: the UNION of each scope's subjects, so that PostgreSQL looks the events
    up by the (subject, seq) index, where scopes OR-ed together make it read every event.
    The organisations are few and read first, so each scope is an index lookup too.

    It is compiled to SQL here, once for each set of organisations (the SQL depends only on
    their ids): a page of the log counts its events and then reads them, and compiling the
    six scopes again for each query cost more than running it."""
    return [RawSQL(*_subjects_sql(connection.vendor, tuple(organization.pk for organization in organizations)))]


@lru_cache(maxsize=256)
def _subjects_sql(vendor: str, org_ids: tuple[object, ...]) -> tuple[str, tuple[object, ...]]:
    """The scopes' UNION as SQL and its parameters (`vendor` keys the cache: the SQL differs by database)."""
    license_ids = LikenessLicense.objects.filter(licensee_id__in=org_ids).order_by().values("id")
    scopes: list[tuple[QuerySet, str]] = [
        (Organization.objects.filter(id__in=org_ids), "organization"),
        (LikenessLicense.objects.filter(licensee_id__in=org_ids), "license"),
        (LikenessModel.objects.filter(licensee_id__in=org_ids), "likeness_model"),
        (LicenseTemplate.objects.filter(organization_id__in=org_ids), "license_template"),
        (RenderJob.objects.filter(license_id__in=license_ids), RenderJob.AUDIT_NAME),
        (TrainingJob.objects.filter(license_id__in=license_ids), TrainingJob.AUDIT_NAME),
    ]
    first, *rest = [queryset.order_by().annotate(audit_subject_ref=_subject(kind)).values_list("audit_subject_ref",
                                                                                               flat=True)
                    for queryset, kind in scopes]
    union = first.union(*rest).query
    union.subquery = True  # as Django compiles it inside the events' query
    sql, params = union.get_compiler(using=first.db).as_sql()
    return sql, tuple(params)


@dataclass(frozen=True)
class ChainStatus:
    """The audit log's verification, in the words the audit page shows at its top."""

    ok: bool
    summary: str
    problems: tuple[str, ...] = ()
    checkpoint: str = ""


def audit_chain_status() -> ChainStatus:
    """The one place the audit page learns the log's state: the hash chain and its signed checkpoints.
    Each load walks only the events after the latest matching checkpoint or the last verification."""
    result = audit_log_verify(full=False, resume=True)
    if result.latest_checkpoint_seq is not None and result.latest_checkpoint_at is not None:
        checkpoint = (f"Latest signed checkpoint matched: #{result.latest_checkpoint_seq}, signed "
                      f"{result.latest_checkpoint_at:%Y-%m-%d %H:%M} UTC ({result.checkpoints_checked} checked).")
    else:
        checkpoint = "No signed checkpoint matched yet: the chain alone vouches for the log."
    if result.resumed_at is not None:
        checkpoint += (f" Events up to #{result.checked_from} were verified {result.resumed_at:%Y-%m-%d %H:%M} UTC; "
                       "this load checked the events after them.")
    if result.ok:
        return ChainStatus(ok=True, summary=f"Chain verified: {result.events} events, head #{result.head_seq}",
                           checkpoint=checkpoint)
    summary = (f"Chain broken at #{result.first_bad_seq}" if result.first_bad_seq is not None
               else "The audit log does not match its signed checkpoints")
    return ChainStatus(ok=False, summary=summary, problems=result.problems, checkpoint=checkpoint)
