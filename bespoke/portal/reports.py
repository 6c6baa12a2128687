"""The compliance report of an organisation for a period: one row per published output,
with the license it used and the disclosures applied to it."""

from __future__ import annotations

import csv
import io
from datetime import date

from consent.models import LikenessLicense, Organization
from generation.selectors import published_outputs_for_licenses

COLUMNS = ["published_at", "output_id", "render_job_id", "license_id", "license_version", "talent", "project", "role",
           "visible_label", "label_placement", "manifest_label", "output_sha256", "model_sha256"]


def compliance_rows(*, organization: Organization, start: date, end: date) -> list[dict[str, str]]:
    licenses = {str(license.id): license for license in
                LikenessLicense.objects.filter(licensee=organization).select_related("talent")}
    rows = []
    for output in published_outputs_for_licenses(license_ids=LikenessLicense.objects.filter(licensee=organization)
                                                 .values("id"), published_from=start, published_to=end):
        license = licenses[str(output.job.license_id)]
        rows.append({
            "published_at": output.created_at.isoformat(), "output_id": str(output.id), "render_job_id": str(output.job_id),
            "license_id": str(license.id), "license_version": str(license.version), "talent": license.talent.display_name,
            "project": license.project, "role": license.role, "visible_label": output.disclosure.get("text", ""),
            "label_placement": output.disclosure.get("placement", ""), "manifest_label": output.manifest_label,
            "output_sha256": output.sha256, "model_sha256": output.model_sha256,
        })
    return rows


def compliance_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
