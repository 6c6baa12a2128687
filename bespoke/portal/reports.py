"""The compliance report of an organisation for a period: one row per published output,
with the license it used and the disclosures applied to it."""

from __future__ import annotations

import csv
import io
from datetime import date
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from consent.models import LikenessLicense, Organization
from generation.selectors import published_outputs_for_licenses

COLUMNS = ["published_at", "output_id", "render_job_id", "license_id", "license_version", "talent", "project", "role",
           "visible_label", "label_placement", "watermark_id", "manifest_label", "output_sha256", "model_sha256"]


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
            "label_placement": output.disclosure.get("placement", ""),
            "watermark_id": "" if output.watermark_id is None else str(output.watermark_id),
            "manifest_label": output.manifest_label,
            "output_sha256": output.sha256, "model_sha256": output.model_sha256,
        })
    return rows


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """``value``, prefixed with a single quote when a spreadsheet would read it as a formula."""
    return f"'{value}" if value.startswith(_FORMULA_TRIGGERS) else value


def compliance_csv(rows: list[dict[str, str]]) -> str:
    """The rows as CSV. Names, projects and roles are typed by people, so every cell is
    neutralised: none can run as a formula when legal staff open the file."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows({column: spreadsheet_safe(value) for column, value in row.items()} for row in rows)
    return out.getvalue()


# The PDF's columns: each gathers some of COLUMNS, every one of which is shown.
_PDF_COLUMNS = [
    ("#", 8 * mm), ("Published", 22 * mm), ("Output / render job", 50 * mm), ("License", 52 * mm),
    ("Talent", 26 * mm), ("Disclosure", 30 * mm), ("Manifest", 42 * mm), ("Output / model SHA-256", 44 * mm),
]


def compliance_pdf(rows: list[dict[str, str]], *, organization: Organization, start: date, end: date) -> bytes:
    """The same rows as the CSV, as a printable landscape table with one line per published output."""
    styles = getSampleStyleSheet()
    text = ParagraphStyle("cell", parent=styles["BodyText"], fontSize=7, leading=8.5)
    code = ParagraphStyle("code", parent=text, fontName="Courier", fontSize=6, leading=8)

    def cell(*lines: str, style: ParagraphStyle = text) -> Paragraph:
        return Paragraph("<br/>".join(escape(line) for line in lines if line), style)

    table = [[cell(title) for title, _ in _PDF_COLUMNS]]
    for number, row in enumerate(rows, start=1):
        table.append([
            cell(str(number)), cell(row["published_at"][:19].replace("T", " ")),
            cell(row["output_id"], row["render_job_id"], style=code),
            Paragraph(f'{escape(row["project"])} · {escape(row["role"])} (v{escape(row["license_version"])})<br/>'
                      f'<font face="Courier" size="6">{escape(row["license_id"])}</font>', text),
            cell(row["talent"]),
            cell(f'"{row["visible_label"]}"', row["label_placement"],
                 f'watermark {row["watermark_id"]}' if row.get("watermark_id") else ""),
            cell(row["manifest_label"], style=code), cell(row["output_sha256"], row["model_sha256"], style=code),
        ])
    grid = Table(table, colWidths=[width for _, width in _PDF_COLUMNS], repeatRows=1)
    grid.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f6f8fa")),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d0d7de")),
    ]))
    out = io.BytesIO()
    document = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm,
                                 topMargin=12 * mm, bottomMargin=12 * mm,
                                 title=f"Compliance report: {organization.name}, {start} to {end}", author="Bespoke")
    document.build([
        Paragraph(escape(f"Compliance report: {organization.name}"), styles["Title"]),
        Paragraph(escape(f"Published outputs from {start} to {end}: {len(rows)}. Generated "
                         f"{timezone.now():%Y-%m-%d %H:%M} UTC. Times are UTC."), styles["BodyText"]),
        Spacer(1, 4 * mm),
        grid if rows else Paragraph("No output was published in this period.", styles["BodyText"]),
    ])
    return out.getvalue()
