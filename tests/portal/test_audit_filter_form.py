"""The audit log's filter form shows the values of the load it is on, whatever was asked
before: each set of values renders the form Django's own rendering gives."""

from __future__ import annotations

import pytest
from django import forms
from django.urls import reverse

from accounts.services import totp_enrol
from bespoke.portal.legal_forms import AuditFilterForm

pytestmark = pytest.mark.django_db


def _filters_html(query: dict[str, str]) -> str:
    form = AuditFilterForm(query)
    form.is_valid()
    return str(forms.Form.as_div(form))


def test_the_filter_form_shows_each_load_s_own_values_and_errors(client, personas):
    totp_enrol(user=personas.dana)
    client.force_login(personas.dana)
    loads = [{}, {"action": "license."}, {"action": "render.", "page": "2"}, {"action": "license."},
             {"date_from": "2026-05-02", "date_to": "2026-05-01"}, {"actor": "nobody-here"}, {}]

    for query in loads:
        response = client.get(reverse("portal-audit-log"), query)
        filters = {name: value for name, value in query.items() if name != "page"}
        if response.status_code == 200:
            assert _filters_html(filters) in response.content.decode(), query
        else:
            assert response.status_code == 400 and 'class="errorlist"' in response.content.decode(), query
    assert 'value="license."' not in client.get(reverse("portal-audit-log")).content.decode()
    assert 'value="license."' in client.get(reverse("portal-audit-log"), {"action": "license."}).content.decode()


def test_a_refused_filter_is_explained_each_time_it_is_asked(client, personas):
    totp_enrol(user=personas.dana)
    client.force_login(personas.dana)
    for _ in range(2):
        response = client.get(reverse("portal-audit-log"), {"date_from": "2026-05-02", "date_to": "2026-05-01"})
        assert response.status_code == 400
        assert "The period must end on or after its start." in response.content.decode()
    assert "The period must end" not in client.get(reverse("portal-audit-log")).content.decode()
