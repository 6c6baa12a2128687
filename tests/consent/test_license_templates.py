"""License templates: the organisation's legal staff manage them, by the license rules, audited."""

from __future__ import annotations

from datetime import date

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from consent import services
from consent.license_templates import (
    BUILT_IN,
    draft_terms,
    license_template_archive,
    license_template_create,
    license_template_update,
    license_templates_for_user,
    license_templates_install_built_in,
)
from consent.models import LicenseTemplate, LikenessLicense
from tests.conftest import verify_identity

pytestmark = pytest.mark.django_db

TERMS = {"use_description": "Background extra in crowd scenes of one music video, never in close-up.",
         "permitted_media": ["video"], "territories": ["FR"], "languages": ["fr"], "max_renders": 3, "term_months": 2,
         "compensation_basis": "flat", "compensation_rate": "300", "compensation_currency": "EUR"}


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)), (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 11, 15), 3, date(2027, 2, 15)), (date(2026, 5, 1), 12, date(2027, 5, 1)),
])
def test_a_template_drafts_a_term_ending_the_same_day_or_the_months_last(day, months, expected):
    assert draft_terms(LicenseTemplate(term_months=months), starts_on=day)["ends_on"] == expected


def test_each_built_in_template_drafts_a_valid_license(personas):
    verify_identity(personas, personas.talent)
    for template in LicenseTemplate.objects.filter(organization=personas.studio):
        terms = draft_terms(template, starts_on=timezone.localdate())
        terms["project"] = terms["project"] or "Night Market"
        license = services.license_draft(talent=personas.talent, licensee=personas.studio, acting_user=personas.dana,
                                         **terms)
        assert license.requires_use_approval == template.requires_use_approval
        assert license.ends_on == license.starts_on + relativedelta(months=template.term_months)
    assert LikenessLicense.objects.count() == len(BUILT_IN)


def test_installing_the_built_in_set_again_adds_nothing(personas):
    assert license_templates_install_built_in(organization=personas.studio, acting_user=personas.dana) == []


def test_only_the_organisations_legal_staff_manage_its_templates(personas):
    template = LicenseTemplate.objects.filter(organization=personas.studio).first()
    for outsider in (personas.bob, personas.charlie, personas.alice):
        with pytest.raises(NotAllowed):
            license_template_create(organization=personas.studio, name="X", acting_user=outsider, **TERMS)
        with pytest.raises(NotAllowed):
            license_template_update(template=template, changes={"max_renders": 9}, acting_user=outsider)
        with pytest.raises(NotAllowed):
            license_template_archive(template=template, acting_user=outsider)
    with pytest.raises(NotAllowed):
        license_template_create(organization=personas.other_studio, name="X", acting_user=personas.dana, **TERMS)
    assert {t.organization_id for t in license_templates_for_user(user=personas.dana)} == {personas.studio.id}
    assert not license_templates_for_user(user=personas.bob).exists()


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": "  "}, "name"), ({"territories": ["France"]}, "territories"), ({"term_months": 0}, "term_months"),
    ({"term_months": 121}, "term_months"), ({"compensation_currency": "euro"}, "compensation_currency"),
    ({"use_description": "Too short."}, "use_description"), ({"capacity": "minor"}, "capacity"),
    ({"role": "r" * 201}, "role"),
])
def test_a_bad_template_is_refused_by_field_and_changes_nothing(personas, changes, field):
    before = (LicenseTemplate.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationFailed) as refusal:
        license_template_create(organization=personas.studio, acting_user=personas.dana,
                                **{"name": "Crowd", **TERMS, **changes})
    assert refusal.value.field == field
    assert (LicenseTemplate.objects.count(), AuditEvent.objects.count()) == before


def test_update_records_the_changed_fields_and_archive_ends_editing(personas):
    template = license_template_create(organization=personas.studio, name="Crowd", acting_user=personas.dana, **TERMS)
    before = AuditEvent.objects.count()
    license_template_update(template=template, changes={"max_renders": 3}, acting_user=personas.erin)
    assert AuditEvent.objects.count() == before  # nothing changed, nothing recorded
    license_template_update(template=template, changes={"max_renders": 4, "territories": ["US", "FR"]},
                            acting_user=personas.erin)
    template.refresh_from_db()
    assert (template.max_renders, template.territories) == (4, ["FR", "US"])
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == "license_template.updated" and '"fields":["max_renders","territories"]' in event.body
    license_template_archive(template=template, acting_user=personas.dana)
    with pytest.raises(InvalidTransition):
        license_template_update(template=template, changes={"max_renders": 5}, acting_user=personas.dana)
    with pytest.raises(InvalidTransition):
        license_template_archive(template=template, acting_user=personas.dana)
    # The archived template's name is free again.
    license_template_create(organization=personas.studio, name="Crowd", acting_user=personas.dana, **TERMS)
