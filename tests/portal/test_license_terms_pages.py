"""The portal's license and template forms take the terms' schema (consent.license_terms): its
labels, choices and bounds; the consent services judge the values, as they do the API's."""

from __future__ import annotations


import pytest
from django.urls import reverse

from bespoke.portal.legal_forms import LicenseDraftForm, LicenseTemplateForm, SuspendForm
from consent.license_terms import LICENSE_FIELDS, MAX_USE_DESCRIPTION, TEMPLATE_FIELDS, TERM
from consent.models import LicenseSuspension, LikenessLicense
from consent.services import SUSPENSION_REASONS
from tests.conftest import make_license, verify_identity
from tests.portal.test_legal_pages import _client, _draft_post, _field

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def alice_verified(personas):  # type: ignore[no-untyped-def]
    return verify_identity(personas, personas.talent)


def test_the_forms_have_a_field_for_each_term_with_the_schemas_label_choices_and_bounds():
    draft = LicenseDraftForm(licensees=[], talents=[])
    template = LicenseTemplateForm()
    assert set(LICENSE_FIELDS) <= set(draft.fields) and set(TEMPLATE_FIELDS) <= set(template.fields)
    assert not {"starts_on", "ends_on"} & set(template.fields) and "term_months" not in draft.fields
    for form, names in ((draft, LICENSE_FIELDS), (template, TEMPLATE_FIELDS)):
        for name in names:
            term, field = TERM[name], form.fields[name]
            if form is draft or name not in ("project", "role"):
                assert field.label == term.label and field.required == (term.required or term.kind == "choice"), name
            if term.choices:
                assert list(field.choices) == list(term.choices), name
            for bound in ("min_value", "max_value"):
                if getattr(term, bound) is not None:
                    assert getattr(field, bound) == getattr(term, bound), (name, bound)
            if term.kind in ("text", "prose", "code"):
                assert field.max_length == term.max_length, name
    assert [value for value, _ in SuspendForm().fields["reason"].choices] == [r.value for r in SUSPENSION_REASONS]


def test_a_use_description_longer_than_the_api_takes_is_refused_beside_its_field(client, personas):
    client = _client(client, personas.dana)
    too_long = "Lead role 'Mara' in the short film Night Market. " * (MAX_USE_DESCRIPTION // 40)
    response = client.post(reverse("portal-license-draft"), _draft_post(personas, use_description=too_long))
    assert response.status_code == 400
    assert _field(response.content.decode(), "use_description")
    assert not LikenessLicense.objects.exists()


def test_legal_staff_cannot_suspend_for_the_platforms_own_reason(client, personas):
    license = make_license(personas)
    client = _client(client, personas.dana)
    url = reverse("portal-license-suspend", args=[license.id])
    assert 'value="representation"' not in client.get(url).content.decode()
    response = client.post(url, {"reason": "representation", "note": "No papers."})
    assert response.status_code == 400 and _field(response.content.decode(), "reason")
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.COUNTERSIGNED and not LicenseSuspension.objects.exists()
