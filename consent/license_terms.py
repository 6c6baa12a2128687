"""The terms of a likeness license, defined once.

TERMS says, for each term a studio writes: its name, its label in plain words, its kind
(and so its shape), its choices and bounds, and whether a license template may preset it.
From it come LICENSE_FIELDS and TEMPLATE_FIELDS, the API's input serializer
(consent.api.LicenseInput) and the portal's form (bespoke.portal.legal_forms); tests check
the models (UseTerms and its subclasses) and the LicenseTerms dataclass against it.

``terms_clean`` is the one judge of a license's terms: the API and the portal only parse
the input's shape, then a service calls it, so they cannot disagree. License templates
(consent.license_templates) check their terms with it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from dateutil.relativedelta import relativedelta
from django.conf import settings

from core.errors import ValidationFailed
from consent.content_policy import CATEGORIES, CATEGORY_LABELS
from consent.lifecycle import minor_term_cap
from consent.models import LikenessLicense

MIN_USE_DESCRIPTION = 40
MAX_USE_DESCRIPTION = 4000
MAX_TEXT = 200  # a project, a role, counsel or a union agreement (the columns' length)
MAX_RENDERS = 1_000_000  # far above any real budget, well inside a 32-bit column
MAX_EXCLUDED_USES = 20
MAX_EXCLUDED_USE_LENGTH = 120
MIN_EXCLUDED_USE_LENGTH = 3
RATE_DIGITS, RATE_PLACES = 12, 2
RATE_LIMIT = Decimal("1e10")  # exclusive: the most a 12-digit column with 2 decimals holds
MAX_TERM_MONTHS = 1200  # the shape of a template's term; the setting BESPOKE_LICENSE_MAX_YEARS judges it

COUNTRY_PATTERN = r"(?:[A-Z]{2}|worldwide)"
LANGUAGE_PATTERN = r"[a-z]{2,3}(?:-[A-Z]{2})?"
CURRENCY_PATTERN = r"[A-Z]{3}"
_COUNTRY = re.compile(COUNTRY_PATTERN)
_LANGUAGE = re.compile(LANGUAGE_PATTERN)
_CURRENCY = re.compile(CURRENCY_PATTERN)

# Established by the verification desk, never a term a studio writes.
DESK_FACTS = ("capacity", "talent_birth_date", "representative", "signed_by", "countersigned_by", "signed_under")
DESK_FACTS_REFUSAL = ("Who the talent is, their age, death and who signs for them are established by the platform's "
                      "verification desk, not set in a license.")


class Kind(StrEnum):
    TEXT = "text"          # one line of words, spaces collapsed
    PROSE = "prose"        # a description, spaces collapsed
    CHOICES = "choices"    # some of `choices`
    CODES = "codes"        # some codes matching `pattern`
    PHRASES = "phrases"    # short phrases in the talent's own words
    FLAG = "flag"          # yes or no
    COUNT = "count"        # a whole number within [min_value, max_value]
    DATE = "date"
    CHOICE = "choice"      # one of `choices`
    AMOUNT = "amount"      # money, RATE_DIGITS digits with RATE_PLACES decimals
    CODE = "code"          # one code matching `pattern`


@dataclass(frozen=True)
class Term:
    name: str
    label: str
    kind: Kind
    required: bool = True  # a draft must give it (one that is not required has `default`)
    default: Any = None
    choices: tuple[tuple[str, str], ...] = ()
    pattern: str | None = None
    max_length: int | None = None  # of the text, or of each item of a list
    max_items: int | None = None   # of a list
    min_value: int | Decimal | None = None
    max_value: int | Decimal | None = None
    on_license: bool = True   # a license's term
    in_template: bool = True  # a template may preset it
    hint: str = ""  # the value's form, for the API's documentation

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(value for value, _ in self.choices)


TERMS: tuple[Term, ...] = (
    Term("project", "Project", Kind.TEXT, max_length=MAX_TEXT),
    Term("role", "Role", Kind.TEXT, max_length=MAX_TEXT),
    Term("use_description", "Use: the scenes, how the likeness appears and where", Kind.PROSE,
         max_length=MAX_USE_DESCRIPTION),
    Term("permitted_media", "Permitted media", Kind.CHOICES, choices=tuple(LikenessLicense.Medium.choices),
         max_length=16, max_items=8),
    Term("territories", "Territories (ISO country codes such as FR US, or worldwide)", Kind.CODES,
         pattern=COUNTRY_PATTERN, max_length=16, max_items=300),
    Term("languages", "Languages (codes such as en fr pt-BR)", Kind.CODES, pattern=LANGUAGE_PATTERN, max_length=16,
         max_items=100),
    Term("dubbing", "Dubbing into other languages allowed", Kind.FLAG, required=False, default=False),
    Term("advertising", "Advertising allowed", Kind.FLAG, required=False, default=False),
    Term("interactive", "Interactive use (games, real-time) allowed", Kind.FLAG, required=False, default=False),
    Term("derivatives", "Derivative works allowed", Kind.FLAG, required=False, default=False),
    Term("allows_likeness_model", "A likeness model may be trained", Kind.FLAG, required=False, default=False),
    Term("excluded_categories", "Excluded content", Kind.CHOICES, required=False, default=(),
         choices=tuple(CATEGORY_LABELS.items()),
         max_length=32, max_items=32),
    Term("excluded_uses", "Uses the talent excludes, in their own words (one per line, such as 'horse riding')",
         Kind.PHRASES, required=False, default=(), max_length=MAX_EXCLUDED_USE_LENGTH, max_items=MAX_EXCLUDED_USES),
    Term("requires_use_approval", "The talent approves each use before it is rendered", Kind.FLAG, required=False,
         default=False),
    Term("max_renders", "Most renders allowed", Kind.COUNT, min_value=1, max_value=MAX_RENDERS),
    Term("starts_on", "Starts on", Kind.DATE, in_template=False),
    Term("ends_on", "Ends on", Kind.DATE, in_template=False),
    Term("term_months", "Length of the license, in months", Kind.COUNT, min_value=1, max_value=MAX_TERM_MONTHS,
         on_license=False),
    Term("representation", "Counsel or union (who represented the talent in negotiating these terms)", Kind.CHOICE,
         required=False, default=LikenessLicense.Representation.NONE.value,
         choices=tuple(LikenessLicense.Representation.choices)),
    Term("representation_detail", "Counsel or union agreement (when represented)", Kind.TEXT, required=False,
         default="", max_length=MAX_TEXT),
    Term("compensation_basis", "Compensation basis", Kind.CHOICE, choices=tuple(LikenessLicense.CompensationBasis.choices)),
    Term("compensation_rate", "Rate", Kind.AMOUNT, min_value=0),
    Term("compensation_currency", "Currency (ISO 4217, such as EUR)", Kind.CODE, pattern=CURRENCY_PATTERN, max_length=3,
         hint="ISO 4217, e.g. EUR"),
)
TERM: dict[str, Term] = {term.name: term for term in TERMS}
LICENSE_FIELDS: tuple[str, ...] = tuple(term.name for term in TERMS if term.on_license)
# A template's terms: a license's, less its dates, with a length in months instead.
TEMPLATE_FIELDS: tuple[str, ...] = tuple(term.name for term in TERMS if term.in_template)
FLAGS: tuple[str, ...] = tuple(term.name for term in TERMS if term.kind == Kind.FLAG)


def _clean_text(t: dict[str, Any], name: str) -> str:
    t[name] = " ".join(str(t.get(name) or "").split())
    if len(t[name]) > TERM[name].max_length:  # type: ignore[operator]
        raise ValidationFailed(f"Keep it under {TERM[name].max_length} characters.", field=name)
    return t[name]


def _clean_excluded_uses(value: Any) -> list[str]:
    """The talent's own exclusions: short phrases, each screened against every prompt."""
    if value in (None, ""):
        return []
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed("Excluded uses are a list of short phrases.", field="excluded_uses")
    phrases = list(dict.fromkeys(" ".join(v.split()) for v in value if v.strip()))
    if len(phrases) > MAX_EXCLUDED_USES:
        raise ValidationFailed(f"Name at most {MAX_EXCLUDED_USES} excluded uses.", field="excluded_uses")
    for phrase in phrases:
        if not MIN_EXCLUDED_USE_LENGTH <= len(phrase) <= MAX_EXCLUDED_USE_LENGTH:
            raise ValidationFailed(f"Each excluded use is {MIN_EXCLUDED_USE_LENGTH} to {MAX_EXCLUDED_USE_LENGTH} "
                                   "characters, such as 'horse riding' or 'scenes in a hospital'.", field="excluded_uses")
    return phrases


def terms_clean(terms: dict[str, Any], *, capacity: str = LikenessLicense.Capacity.ADULT,
                birth_date: date | None = None) -> dict[str, Any]:
    """Validate a license's structured terms (LICENSE_FIELDS); every refusal names its field in plain words.

    ``capacity`` and ``birth_date`` come from the verification desk's facts; a term that
    tries to set them (or a representative) is refused."""
    t = dict(terms)
    for name in DESK_FACTS:
        if name in t:
            raise ValidationFailed(DESK_FACTS_REFUSAL, field=name)
    for name in ("project", "role"):
        if not _clean_text(t, name):
            raise ValidationFailed(f"Name the {name} this license is for.", field=name)
    t["use_description"] = " ".join(str(t.get("use_description") or "").split())
    if len(t["use_description"]) < MIN_USE_DESCRIPTION:
        raise ValidationFailed(f"Describe the use specifically (at least {MIN_USE_DESCRIPTION} characters): "
                               "the scenes, how the likeness appears and where.", field="use_description")
    if len(t["use_description"]) > MAX_USE_DESCRIPTION:
        raise ValidationFailed(f"Keep the use under {MAX_USE_DESCRIPTION} characters.", field="use_description")
    for name, allowed, message in (
        ("permitted_media", lambda v: v in TERM["permitted_media"].values,
         f"Permitted media must be some of {', '.join(TERM['permitted_media'].values)}."),
        ("territories", _COUNTRY.fullmatch, "Territories are ISO country codes such as FR or US, or 'worldwide'."),
        ("languages", _LANGUAGE.fullmatch, "Languages are codes such as en, fr or pt-BR."),
        ("excluded_categories", lambda v: v in CATEGORIES, f"Excluded categories must be some of {', '.join(CATEGORIES)}."),
    ):
        values = t.get(name) or []
        if isinstance(values, str) or not all(isinstance(v, str) and allowed(v) for v in values):
            raise ValidationFailed(message, field=name)
        t[name] = sorted(set(values))
        if len(t[name]) > TERM[name].max_items:  # type: ignore[operator]
            raise ValidationFailed(f"Give at most {TERM[name].max_items} {name.replace('_', ' ')}.", field=name)
    t["excluded_uses"] = _clean_excluded_uses(t.get("excluded_uses"))
    for name in ("permitted_media", "territories", "languages"):
        if not t[name]:
            raise ValidationFailed(f"Give at least one of {name.replace('_', ' ')}.", field=name)
    for name in FLAGS:
        t[name] = bool(t.get(name, False))
    if not isinstance(t.get("max_renders"), int) or t["max_renders"] < 1:
        raise ValidationFailed("A license allows at least one render.", field="max_renders")
    if t["max_renders"] > MAX_RENDERS:
        raise ValidationFailed(f"A license allows at most {MAX_RENDERS:,} renders.", field="max_renders")
    starts_on, ends_on = t.get("starts_on"), t.get("ends_on")
    if not isinstance(starts_on, date) or not isinstance(ends_on, date):
        raise ValidationFailed("A license needs a start date and an end date: no perpetual terms.", field="ends_on")
    if ends_on <= starts_on:
        raise ValidationFailed("The license must end after it starts.", field="ends_on")
    if capacity == LikenessLicense.Capacity.MINOR and birth_date is not None:
        cap = minor_term_cap(starts_on=starts_on, birth_date=birth_date)
        if ends_on > cap:
            raise ValidationFailed(f"The talent is a minor: their license ends by their 18th birthday and within five "
                                   f"years, {cap.isoformat()} at the latest.", field="ends_on")
    elif ends_on > starts_on + relativedelta(years=settings.BESPOKE_LICENSE_MAX_YEARS):
        raise ValidationFailed(f"A license lasts at most {settings.BESPOKE_LICENSE_MAX_YEARS} years.", field="ends_on")
    representation = t.setdefault("representation", TERM["representation"].default)
    if representation not in TERM["representation"].values:
        raise ValidationFailed("Representation is none, counsel or union.", field="representation")
    if not _clean_text(t, "representation_detail") and representation != LikenessLicense.Representation.NONE:
        raise ValidationFailed("Name the counsel or the union agreement.", field="representation_detail")
    if t.get("compensation_basis") not in TERM["compensation_basis"].values:
        raise ValidationFailed("Compensation basis is flat, per_render or per_day.", field="compensation_basis")
    try:
        t["compensation_rate"] = Decimal(str(t.get("compensation_rate"))).quantize(Decimal(10) ** -RATE_PLACES)
    except (InvalidOperation, ValueError):
        raise ValidationFailed("The compensation rate is an amount such as 1500.00.", field="compensation_rate") from None
    if not t["compensation_rate"].is_finite() or not 0 <= t["compensation_rate"] < RATE_LIMIT:
        raise ValidationFailed("The compensation rate is a positive amount.", field="compensation_rate")
    if not _CURRENCY.fullmatch(str(t.get("compensation_currency") or "")):
        raise ValidationFailed("The currency is an ISO 4217 code such as EUR or USD.", field="compensation_currency")
    unknown = set(t) - set(LICENSE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown license terms: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    return t
