"""The license text, rendered from its structured terms and bound by its SHA-256, and the
electronic-records disclosure a signer accepts before signing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from consent.content_policy import CATEGORY_LABELS
from consent.models import LikenessLicense

DISCLOSURE_VERSION = "2026-11"
ELECTRONIC_RECORDS_DISCLOSURE = """\
Electronic records and signatures (version 2026-11)

You are asked to sign this license electronically. Before you agree:
- You may ask for a paper copy of the license and of this disclosure at no charge, and you
  may choose to sign on paper instead by writing to the licensee's legal contact.
- Your agreement covers this license and its signature records only.
- You may withdraw your agreement to use electronic records at any time; withdrawal applies
  to future records and does not undo signatures already made.
- Keep your contact details current in your account settings.
- You need a current web browser and the ability to read and download a text document.
Your electronic signature binds the exact text shown, identified by its SHA-256 digest."""


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LicenseTerms:
    talent_name: str
    licensee_name: str
    project: str
    role: str
    use_description: str
    permitted_media: list[str]
    territories: list[str]
    languages: list[str]
    dubbing: bool
    advertising: bool
    interactive: bool
    derivatives: bool
    allows_likeness_model: bool
    excluded_categories: list[str]
    requires_use_approval: bool
    max_renders: int
    starts_on: date
    ends_on: date
    capacity: str
    representation: str
    representation_detail: str
    compensation_basis: str
    compensation_rate: Decimal
    compensation_currency: str
    version: int
    excluded_uses: tuple[str, ...] | list[str] = ()


def _yes(flag: bool, yes: str, no: str) -> str:
    return yes if flag else no


def _labels(codes: list[str], labels: dict[str, str]) -> str:
    """Codes as the words a person reads ("alcohol_tobacco" -> "alcohol and tobacco")."""
    return ", ".join(labels.get(code, code.replace("_", " ")).lower() for code in codes)


def render_license_text(terms: LicenseTerms) -> str:
    """The text a talent reads and signs: plain words, one line per clause (no hard wraps, so it
    flows at any width). A license keeps the text it was drafted with: it is stored, hashed and
    checked as signed, never rendered again, so a change of wording reaches new drafts only."""
    excluded = _labels(terms.excluded_categories, CATEGORY_LABELS) or "none beyond the law"
    media = _labels(terms.permitted_media, dict(LikenessLicense.Medium.choices))
    basis = dict(LikenessLicense.CompensationBasis.choices).get(terms.compensation_basis,
                                                                terms.compensation_basis.replace("_", " "))
    signer = {"adult": "the Talent", "minor": "the Talent's guardian, on the Talent's behalf",
              "deceased": "the representative of the Talent's estate"}[terms.capacity]
    representation = {"none": "The Talent has no legal counsel or union agreement for this license.",
                      "counsel": f"The Talent is represented by legal counsel: {terms.representation_detail}.",
                      "union": f"This license is made under a union agreement: {terms.representation_detail}."}
    return "\n".join([
        f"LIKENESS LICENSE (version {terms.version})",
        "",
        f"Talent: {terms.talent_name}",
        f"Licensee: {terms.licensee_name}",
        f"Signed by: {signer}",
        "",
        "1. Use. The Talent permits the Licensee to create synthetic media depicting the Talent's likeness "
        f"for the project \"{terms.project}\", in the role of \"{terms.role}\", and for this use only: "
        f"{terms.use_description}",
        f"2. Media and reach. Media: {media}. Territories: {', '.join(terms.territories)}. "
        f"Languages: {', '.join(terms.languages)}. "
        + _yes(terms.dubbing, "Dubbing into other languages is permitted.", "No dubbing into other languages."),
        "3. Advertising, interaction, derivatives. "
        + _yes(terms.advertising, "Advertising use is permitted. ", "No advertising use. ")
        + _yes(terms.interactive, "Interactive or real-time generation is permitted. ", "No interactive or real-time generation. ")
        + _yes(terms.derivatives, "Sequels and derivative works are covered.", "No sequels or derivative works."),
        f"4. Term. From {_day(terms.starts_on)} to {_day(terms.ends_on)} inclusive. The license is not perpetual.",
        f"5. Volume. At most {terms.max_renders} published outputs. "
        + _yes(terms.requires_use_approval, "The Talent approves each use before it is rendered.",
               "Uses within this license need no further approval."),
        f"6. Exclusions. No content in these categories: {excluded}."
        + (f" Nor these uses, in the Talent's own words: {'; '.join(terms.excluded_uses)}."
           if terms.excluded_uses else ""),
        f"7. Compensation. {basis}: {terms.compensation_rate} {terms.compensation_currency}.",
        f"8. Counsel and union. {representation[terms.representation]}",
        "9. Disclosure. Every output carries a visible AI-generated label and signed content credentials.",
        "10. Revocation. The Talent may revoke this license at any time with one action. Revocation stops all "
        "further generation at once. It does not recall outputs already delivered before revocation; those are "
        "listed in the revocation record.",
        _yes(terms.allows_likeness_model,
             "11. Likeness model. The Licensee may train a model of the Talent's likeness from reference photos the "
             "Talent supplies. The model is stored encrypted, used only for uses this license permits, and "
             "destroyed when no license allows it any more.",
             "11. Likeness model. The Licensee may not train a model of the Talent's likeness."),
        "",
    ])


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def _day(value: date) -> str:
    """1 March 2026: the same words whatever the server's locale (the text is hashed)."""
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"
