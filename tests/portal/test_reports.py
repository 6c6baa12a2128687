"""The compliance CSV cannot carry a formula: names, projects and roles are typed by people,
and legal staff open the file in a spreadsheet (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from bespoke.portal.reports import COLUMNS, compliance_csv
from generation.services import render as renders
from tests.conftest import SMALL_RENDER, make_license

HOSTILE = ['=HYPERLINK("http://x")', "-2+3", "+1", "@SUM(1)", "\tx", "\rx"]


def _read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("value", HOSTILE)
def test_a_cell_a_spreadsheet_would_run_is_quoted_in_every_column(value):
    rows = _read(compliance_csv([{column: value for column in COLUMNS}]))
    assert rows == [{column: "'" + value for column in COLUMNS}]


def test_plain_cells_are_left_as_they_are():
    row = {column: "" for column in COLUMNS} | {
        "published_at": "2025-05-01T10:00:00+00:00", "talent": "Alice Avery", "project": "Night Market",
        "role": "Mara - the lead", "visible_label": "AI-generated", "watermark_id": "17"}
    assert _read(compliance_csv([row])) == [row]


@pytest.mark.django_db
def test_the_downloaded_report_neutralises_what_a_studio_and_a_talent_typed(client, personas, tiny_model):
    from accounts.services import totp_enrol

    personas.talent.display_name = "@SUM(1)"
    personas.talent.save(update_fields=["display_name"])
    license = make_license(personas, project='=HYPERLINK("http://x")', role="-2+3")
    job = renders.render_job_request(license_id=str(license.id), prompt="sks person walking", params=SMALL_RENDER,
                                     acting_user=personas.bob)
    renders.render_job_execute(job_id=str(job.id), worker="w")
    totp_enrol(user=personas.dana)
    client.force_login(personas.dana)
    response = client.get(reverse("portal-compliance-report"), {"as": "csv"})
    assert response.status_code == 200
    [row] = _read(response.content.decode())
    assert (row["talent"], row["project"], row["role"]) == ("'@SUM(1)", "'=HYPERLINK(\"http://x\")", "'-2+3")
    assert row["license_id"] == str(license.id)
