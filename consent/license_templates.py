"""License templates: an organisation's default terms to draft licenses from.

A template holds the same terms as a license (checked by the same rules, see
`consent.license_terms.terms_clean`) except those that belong to one talent and one
signing: dates become a length in months (TEMPLATE_FIELDS, from the terms' schema).
Capacity, date of birth and who signs for the talent come from the verification desk when
drafting. Every organisation starts with BUILT_IN.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.conf import settings
from django.utils import timezone

from audit.actors import user_actor
from audit.services import audit_append
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from consent.models import LicenseTemplate, LikenessLicense, Membership, Organization
from consent.policies import is_legal, studio_organization_ids
from consent.license_terms import MAX_TEXT, TEMPLATE_FIELDS, terms_clean

BUILT_IN: list[dict[str, Any]] = [
    {
        "name": "Feature film — principal role, 12 months",
        "description": "A principal role in one feature film, its trailers and promotion; a likeness model may be "
                       "trained for the production. Name the project and the character before offering.",
        "role": "Principal role",
        "use_description": "Principal role in a feature film: dialogue and action scenes, close-ups and wide shots, "
                           "in the film itself, its trailers and its promotional clips.",
        "permitted_media": ["image", "video"], "territories": ["worldwide"], "languages": ["en"],
        "dubbing": True, "advertising": False, "interactive": False, "derivatives": False,
        "allows_likeness_model": True, "excluded_categories": ["hate", "political", "sexual"],
        "requires_use_approval": False, "max_renders": 200, "term_months": 12,
        "compensation_basis": LikenessLicense.CompensationBasis.FLAT, "compensation_rate": Decimal("25000.00"),
        "compensation_currency": "EUR",
    },
    {
        "name": "Advertising — single campaign, 3 months, per-use approval",
        "description": "One advertising campaign; the talent approves every use before it is rendered. Name the "
                       "brand and the campaign, and narrow the territories, before offering.",
        "role": "Featured person",
        "use_description": "Featured appearance in one advertising campaign: short spots and stills for that "
                           "campaign's online and broadcast placements only, each use approved by the talent.",
        "permitted_media": ["image", "video"], "territories": ["worldwide"], "languages": ["en"],
        "dubbing": False, "advertising": True, "interactive": False, "derivatives": False,
        "allows_likeness_model": False,
        "excluded_categories": ["alcohol_tobacco", "drugs", "hate", "political", "sexual"],
        "requires_use_approval": True, "max_renders": 20, "term_months": 3,
        "compensation_basis": LikenessLicense.CompensationBasis.PER_RENDER, "compensation_rate": Decimal("500.00"),
        "compensation_currency": "EUR",
    },
]


def draft_terms(template: LicenseTemplate, *, starts_on: date) -> dict[str, Any]:
    """The license terms a template proposes for a license starting on `starts_on`: it ends
    the same day `term_months` later, or on that month's last day when it has none
    (31 January + 1 month = 28 or 29 February)."""
    terms = {name: getattr(template, name) for name in TEMPLATE_FIELDS if name != "term_months"}
    terms.update(starts_on=starts_on, ends_on=starts_on + relativedelta(months=template.term_months))
    return terms


def _clean_template(organization: Organization, fields: dict[str, Any], *,
                    template: LicenseTemplate | None = None) -> dict[str, Any]:
    unknown = set(fields) - set(TEMPLATE_FIELDS) - {"name", "description"}
    if unknown:
        raise ValidationFailed(f"Unknown template terms: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    t = dict(fields)
    t["name"] = " ".join(str(t.get("name") or "").split())
    if not t["name"]:
        raise ValidationFailed("Give the template a name.", field="name")
    others = LicenseTemplate.objects.filter(organization=organization, name=t["name"], archived_at__isnull=True)
    if template is not None:
        others = others.exclude(pk=template.pk)
    if others.exists():
        raise ValidationFailed("Another template of this organisation already has that name.", field="name")
    t["description"] = str(t.get("description") or "").strip()
    for name in ("project", "role", "representation_detail"):
        t[name] = " ".join(str(t.get(name) or "").split())
    for name in ("name", "project", "role", "representation_detail"):
        if len(t[name]) > MAX_TEXT:
            raise ValidationFailed(f"Keep it under {MAX_TEXT} characters.", field=name)
    months = t.get("term_months")
    if not isinstance(months, int) or isinstance(months, bool) or months < 1:
        raise ValidationFailed("A template's term is at least one month.", field="term_months")
    if months > 12 * settings.BESPOKE_LICENSE_MAX_YEARS:
        raise ValidationFailed(f"A license drafted from it lasts at most {settings.BESPOKE_LICENSE_MAX_YEARS} years.",
                               field="term_months")
    # Check the terms by the license rules, on a sample license starting today; a blank
    # project or role is filled in when drafting.
    today = timezone.localdate()
    sample = {name: t[name] for name in TEMPLATE_FIELDS if name in t and name != "term_months"}
    sample.update(project=t["project"] or "project", role=t["role"] or "role", starts_on=today,
                  ends_on=today + relativedelta(months=months))
    try:
        cleaned = terms_clean(sample)
    except ValidationFailed as error:
        if error.field == "ends_on":
            raise ValidationFailed(error.message.replace("A license lasts", "A license drafted from it lasts"),
                                   field="term_months") from None
        raise
    for name in TEMPLATE_FIELDS:
        if name not in ("project", "role", "term_months"):
            t[name] = cleaned[name]
    return t


def _template_create(*, organization: Organization, fields: dict[str, Any],
                     acting_user: AbstractBaseUser) -> LicenseTemplate:
    template = LicenseTemplate.objects.create(organization=organization, created_by=acting_user,
                                              **_clean_template(organization, fields))
    audit_append(action="license_template.created", actor=user_actor(acting_user),
                 subject=f"license_template:{template.id}", data={"organization": str(organization.id)})
    return template


@transaction.atomic
def license_template_create(*, organization: Organization, acting_user: AbstractBaseUser,
                            **fields: Any) -> LicenseTemplate:
    """A new template (name, description and TEMPLATE_FIELDS); only the organisation's legal staff."""
    if not is_legal(acting_user, organization.pk):
        raise NotAllowed("Only the organisation's legal staff manage its license templates.")
    return _template_create(organization=organization, fields=fields, acting_user=acting_user)


def _locked(template: LicenseTemplate) -> LicenseTemplate:
    template.refresh_from_db(from_queryset=LicenseTemplate.objects.select_for_update())
    return template


@transaction.atomic
def license_template_update(*, template: LicenseTemplate, changes: dict[str, Any],
                            acting_user: AbstractBaseUser) -> LicenseTemplate:
    """Change some of a template's fields; licenses drafted from it before stay as they were drafted."""
    template = _locked(template)
    if not is_legal(acting_user, template.organization_id):
        raise NotAllowed("Only the organisation's legal staff manage its license templates.")
    if template.archived_at is not None:
        raise InvalidTransition("This template is archived; create a new one instead.")
    current = {name: getattr(template, name) for name in (*TEMPLATE_FIELDS, "name", "description")}
    cleaned = _clean_template(template.organization, {**current, **changes}, template=template)
    changed = sorted(name for name, value in cleaned.items() if value != current[name])
    if not changed:
        return template
    for name in changed:
        setattr(template, name, cleaned[name])
    template.save(update_fields=[*changed, "updated_at"])
    audit_append(action="license_template.updated", actor=user_actor(acting_user),
                 subject=f"license_template:{template.id}",
                 data={"organization": str(template.organization_id), "fields": changed})
    return template


@transaction.atomic
def license_template_archive(*, template: LicenseTemplate, acting_user: AbstractBaseUser) -> LicenseTemplate:
    """Withdraw a template from drafting; it stays on record (and its name becomes free)."""
    template = _locked(template)
    if not is_legal(acting_user, template.organization_id):
        raise NotAllowed("Only the organisation's legal staff manage its license templates.")
    if template.archived_at is not None:
        raise InvalidTransition("This template is already archived.")
    template.archived_at = timezone.now()
    template.save(update_fields=["archived_at", "updated_at"])
    audit_append(action="license_template.archived", actor=user_actor(acting_user),
                 subject=f"license_template:{template.id}", data={"organization": str(template.organization_id)})
    return template


@transaction.atomic
def license_templates_install_built_in(*, organization: Organization,
                                       acting_user: AbstractBaseUser) -> list[LicenseTemplate]:
    """Give an organisation the built-in templates it lacks (by name); called when it is created."""
    existing = set(LicenseTemplate.objects.filter(organization=organization, archived_at__isnull=True)
                   .values_list("name", flat=True))
    return [_template_create(organization=organization, fields=dict(fields), acting_user=acting_user)
            for fields in BUILT_IN if fields["name"] not in existing]


# --- reads -------------------------------------------------------------------------------

def license_templates_for_user(*, user: AbstractBaseUser | AnonymousUser,
                               include_archived: bool = False) -> QuerySet[LicenseTemplate]:
    """The templates of the organisations where the user is legal staff."""
    if not user.is_authenticated:
        return LicenseTemplate.objects.none()
    templates = LicenseTemplate.objects.filter(organization_id__in=studio_organization_ids(user, (Membership.Role.LEGAL,)))
    if not include_archived:
        templates = templates.filter(archived_at__isnull=True)
    return templates.select_related("organization").order_by("organization__name", "name")


def license_template_get_for_user(*, user: AbstractBaseUser | AnonymousUser, template_id: object,
                                  include_archived: bool = False) -> LicenseTemplate:
    try:
        return license_templates_for_user(user=user, include_archived=include_archived).get(pk=template_id)
    except (LicenseTemplate.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such template.") from None
