"""Bulk rows on PostgreSQL for measuring scoped lists at scale: other studios' licenses,
their talents, one render per license and audit events about them.

Rows are copied from a template row of each table by ``INSERT ... SELECT`` over
``generate_series``, in a handful of statements, so 100,000 licenses take seconds. None of
them is visible to the personas: they belong to seeded talents and seeded studios.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, models

from audit.models import AuditEvent
from consent.models import LikenessLicense, Organization, Talent
from generation.models import RenderJob


@dataclass(frozen=True)
class ScaleRows:
    licenses: int
    talents: int
    studios: int
    renders: int
    events: int


def _clone(model: type[models.Model], template_pk: object, source: str, overrides: dict[str, str]) -> int:
    """Insert one copy of the template row for each row of `source` (SQL after FROM), with
    these columns computed (SQL expressions over `source`) and a new primary key; answers
    the rows inserted."""
    table, pk = model._meta.db_table, model._meta.pk
    quote = connection.ops.quote_name
    if isinstance(pk, models.UUIDField):
        overrides = {pk.column: "gen_random_uuid()", **overrides}
    columns = [field.column for field in model._meta.concrete_fields
               if not (field.primary_key and isinstance(field, models.AutoField | models.BigAutoField))]
    values = [overrides.get(column, f"t.{quote(column)}") for column in columns]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
                       f"SELECT {', '.join(values)} FROM {quote(table)} t, {source} WHERE t.{quote(pk.column)} = %s",
                       [template_pk])
        return cursor.rowcount


def _numbered(select: str, alias: str) -> str:
    """`select` (one column, `id`) numbered from 0 as `n`, to spread rows over it by modulo."""
    return f"(SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM ({select}) s) {alias}"


def seed_scale(*, license: LikenessLicense, render: RenderJob, event: AuditEvent, licenses: int = 100_000,
               events_per_license: float = 1.13) -> ScaleRows:
    """Copy `license` (with its talent's user, its talent and its licensee), `render` and
    `event` into `licenses` licenses of seeded talents at seeded studios, one render each and
    about `events_per_license` audit events each, then ANALYZE the tables."""
    talents, studios = max(1, licenses // 20), max(1, licenses // 100)
    user_model = license.talent.user.__class__
    users, talent_table = user_model._meta.db_table, Talent._meta.db_table
    organizations, license_table = Organization._meta.db_table, LikenessLicense._meta.db_table
    _clone(user_model, license.talent.user_id, f"generate_series(1, {talents}) g",
           {"username": "'scale-talent-' || g", "email": "''"})
    _clone(Talent, license.talent_id, f"(SELECT id AS user_id FROM {users} WHERE username LIKE 'scale-talent-%%') u",
           {"user_id": "u.user_id", "display_name": "'Scale talent'"})
    _clone(Organization, license.licensee_id, f"generate_series(1, {studios}) g", {"name": "'Scale Studio ' || g"})
    seeded_talents = _numbered(f"SELECT t2.id FROM {talent_table} t2 JOIN {users} u ON u.id = t2.user_id "
                               f"WHERE u.username LIKE 'scale-talent-%%'", "ts")
    seeded_studios = _numbered(f"SELECT id FROM {organizations} WHERE name LIKE 'Scale Studio %%'", "st")
    inserted = _clone(LikenessLicense, license.pk, (
        f"generate_series(1, {licenses}) g JOIN {seeded_talents} ON ts.n = g %% {talents} "
        f"JOIN {seeded_studios} ON st.n = g %% {studios}"), {
        "previous_id": "NULL", "signed_by_id": "NULL", "countersigned_by_id": "NULL", "signed_under_id": "NULL",
        "talent_id": "ts.id", "licensee_id": "st.id", "created_at": "t.created_at - g * interval '1 second'"})
    seeded_licenses = _numbered(f"SELECT l.id FROM {license_table} l JOIN {organizations} o ON o.id = l.licensee_id "
                                f"WHERE o.name LIKE 'Scale Studio %%'", "l")
    renders = _clone(RenderJob, render.pk, seeded_licenses, {
        "license_id": "l.id", "created_at": "t.created_at - l.n * interval '1 second'"})
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {quote(AuditEvent._meta.db_table)}")
        first_seq = cursor.fetchone()[0] + 1_000_000
    digest = "md5(g::text) || md5(g::text)"
    event_rows = round(licenses * events_per_license)
    events = _clone(AuditEvent, event.pk, (
        f"generate_series(1, {event_rows}) g JOIN {seeded_licenses} ON l.n = g %% {inserted}"), {
        "seq": f"{first_seq} + g", "subject": "'license:' || l.id", "leaf_hash": digest, "prev_hash": digest,
        "entry_hash": digest})
    with connection.cursor() as cursor:
        for model in (user_model, Talent, Organization, LikenessLicense, RenderJob, AuditEvent):
            cursor.execute(f"ANALYZE {quote(model._meta.db_table)}")
    return ScaleRows(licenses=inserted, talents=talents, studios=studios, renders=renders, events=events)


def more_visible_rows(*, license: LikenessLicense, render: RenderJob, count: int) -> None:
    """`count` more licenses like `license` (same talent and studio), and a render under each."""
    fields = [f.attname for f in LikenessLicense._meta.concrete_fields
              if not f.primary_key and f.attname != "previous_id"]
    copies = LikenessLicense.objects.bulk_create(
        [LikenessLicense(**{name: getattr(license, name) for name in fields}) for _ in range(count)])
    job_fields = [f.attname for f in RenderJob._meta.concrete_fields if not f.primary_key]
    RenderJob.objects.bulk_create([RenderJob(**{**{name: getattr(render, name) for name in job_fields},
                                                "license_id": copy.pk}) for copy in copies])
