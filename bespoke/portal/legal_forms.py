"""Forms of legal staff's pages: license drafting and templates, suspensions, the audit log.

The forms read the input's shape (numbers, dates, lists); the consent services judge
the terms, and their refusals are put beside the field they name.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.utils.safestring import SafeString

from consent.license_terms import RATE_DIGITS, RATE_PLACES, TERM, TERMS, Kind, Term
from consent.services import SUSPENSION_REASONS

_SEPARATORS = re.compile(r"[\s,;]+")
BOOLEAN_TERMS = tuple(term.name for term in TERMS if term.kind == Kind.FLAG)
# How the page asks for a term; its label, choices and bounds come from the terms' schema.
_WIDGETS: dict[Kind, forms.Widget | type[forms.Widget]] = {
    Kind.PROSE: forms.Textarea(attrs={"rows": 3}), Kind.CHOICES: forms.CheckboxSelectMultiple,
    Kind.PHRASES: forms.Textarea(attrs={"rows": 3}), Kind.DATE: forms.DateInput(attrs={"type": "date"})}
# Lists of codes and phrases are typed as text; the longest text the box takes.
_TEXT_BOX = {"territories": 1000, "languages": 500, "excluded_uses": 3000}
_REQUIRED = {
    "use_description": "Describe the use specifically.", "permitted_media": "Tick at least one medium.",
    "territories": "Give at least one territory.", "languages": "Give at least one language.",
    "max_renders": "Say how many renders the license allows.", "compensation_rate": "Give the compensation rate.",
    "compensation_currency": "Give the currency.", "starts_on": "Give a start date.",
    "ends_on": "Give an end date: no perpetual terms.", "term_months": "Say how many months a license from it lasts.",
}


def term_field(term: Term) -> forms.Field:
    """The page's field for one license term, from its schema (consent.license_terms). It reads
    the input's shape only: the consent services judge the value, as they do the API's."""
    options: dict[str, Any] = {"label": term.label, "required": term.required or term.kind == Kind.CHOICE}
    if term.kind in _WIDGETS:
        options["widget"] = _WIDGETS[term.kind]
    if term.name in _REQUIRED:
        options["error_messages"] = {"required": _REQUIRED[term.name]}
    match term.kind:
        case Kind.TEXT | Kind.PROSE | Kind.CODE:
            return forms.CharField(max_length=term.max_length, **options)
        case Kind.CODES | Kind.PHRASES:
            return forms.CharField(max_length=_TEXT_BOX[term.name], **options)
        case Kind.CHOICES:
            return forms.MultipleChoiceField(choices=term.choices, **options)
        case Kind.CHOICE:
            return forms.ChoiceField(choices=term.choices, **options)
        case Kind.FLAG:
            return forms.BooleanField(**options)
        case Kind.COUNT:
            return forms.IntegerField(min_value=term.min_value, max_value=term.max_value, **options)
        case Kind.DATE:
            return forms.DateField(**options)
        case Kind.AMOUNT:
            return forms.DecimalField(min_value=term.min_value, max_digits=RATE_DIGITS, decimal_places=RATE_PLACES,
                                      **options)
    raise AssertionError(f"No field for {term.kind}")


def _codes(value: str) -> list[str]:
    return [code for code in _SEPARATORS.split(value.strip()) if code]


class _TermsFormBase(forms.Form):
    def clean_territories(self) -> list[str]:
        return [code.lower() if code.lower() == "worldwide" else code.upper()
                for code in _codes(self.cleaned_data["territories"])]

    def clean_languages(self) -> list[str]:
        return _codes(self.cleaned_data["languages"])

    def clean_excluded_uses(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["excluded_uses"].splitlines() if line.strip()]

    def clean_compensation_currency(self) -> str:
        return self.cleaned_data["compensation_currency"].strip().upper()

    def terms(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in _TermsForm.base_fields}


# The terms a license and a template share (the schema's terms on both), one field each.
_TermsForm = type("_TermsForm", (_TermsFormBase,), {
    "__module__": __name__, "__doc__": "The terms a license and a template share.",
    **{term.name: term_field(term) for term in TERMS if term.on_license and term.in_template}})


def terms_initial(values: dict[str, Any]) -> dict[str, Any]:
    """Form initial values from stored terms (lists shown as text)."""
    initial = dict(values)
    for name in ("territories", "languages"):
        if isinstance(initial.get(name), list):
            initial[name] = " ".join(initial[name])
    if isinstance(initial.get("excluded_uses"), list):
        initial["excluded_uses"] = "\n".join(initial["excluded_uses"])
    return initial


class LicenseDraftForm(_TermsForm):
    """A license's terms. No field for the talent's capacity, date of birth or who signs for
    them: the verification desk established those, and the license copies them."""

    licensee = forms.ChoiceField(label="Licensee")
    talent = forms.ChoiceField(label="Talent", error_messages={"required": "Choose the talent."})
    starts_on = term_field(TERM["starts_on"])
    ends_on = term_field(TERM["ends_on"])
    offer = forms.BooleanField(label="Offer it to the talent now", required=False)

    field_order = ["licensee", "talent", "project", "role", "use_description", "permitted_media", "territories",
                   "languages", *BOOLEAN_TERMS[:5], "excluded_categories", "excluded_uses",
                   "requires_use_approval", "max_renders",
                   "starts_on", "ends_on", "representation",
                   "representation_detail", "compensation_basis", "compensation_rate", "compensation_currency",
                   "offer"]

    def __init__(self, *args: Any, licensees: list[tuple[str, str]], talents: list[tuple[str, str]],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["licensee"].choices = licensees
        self.fields["talent"].choices = [("", "Choose…"), *talents]


class LicenseTemplateForm(_TermsForm):
    organization = forms.ChoiceField(label="Organisation")
    name = forms.CharField(label="Name", max_length=200, error_messages={"required": "Give the template a name."})
    description = forms.CharField(label="When to use it", required=False, max_length=2000,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    term_months = term_field(TERM["term_months"])

    field_order = ["organization", "name", "description", "project", "role", "use_description", "term_months"]

    def __init__(self, *args: Any, organizations: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].required = False
        self.fields["project"].label = "Project (may be left for drafting)"
        self.fields["role"].required = False
        self.fields["role"].label = "Role (may be left for drafting)"
        if organizations is None:
            del self.fields["organization"]
        else:
            self.fields["organization"].choices = organizations

    def fields_for_service(self) -> dict[str, Any]:
        return {**self.terms(), "name": self.cleaned_data["name"], "description": self.cleaned_data["description"],
                "term_months": self.cleaned_data["term_months"]}


class SuspendForm(forms.Form):
    """The reason and the note; the suspending service judges them (an "other" needs a note)."""

    reason = forms.ChoiceField(label="Why is the license suspended?",
                               choices=[(reason.value, reason.label) for reason in SUSPENSION_REASONS],
                               widget=forms.RadioSelect, error_messages={"required": "Choose a reason."})
    note = forms.CharField(label="Note (kept in the record, shown on the license page)", max_length=2000,
                           required=False, widget=forms.Textarea(attrs={"rows": 2}))


# The audit filters' HTML for the values last asked for: most loads of the audit log are its first
# page or a later page of the same filters, whose form is the same HTML every time.
_AUDIT_FILTERS_HTML: dict[tuple[str | None, ...], SafeString] = {}
_AUDIT_FILTERS_KEPT = 256


class AuditFilterForm(forms.Form):
    action = forms.CharField(label="Action (whole, or its start ending in a dot, such as license.)", max_length=64,
                             required=False)
    subject = forms.CharField(label="Subject (such as license:<id>)", max_length=120, required=False)
    actor = forms.CharField(label="Actor (a username, user:<id> or system:<name>)", max_length=150, required=False)
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    seq_from = forms.IntegerField(label="From event #", min_value=1, max_value=2**63 - 1, required=False)
    seq_to = forms.IntegerField(label="To event #", min_value=1, max_value=2**63 - 1, required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start: date | None = cleaned.get("date_from")
        end: date | None = cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The period must end on or after its start.")
        if end == date.max:
            self.add_error("date_to", "Choose a real end date.")
        if cleaned.get("seq_from") and cleaned.get("seq_to") and cleaned["seq_to"] < cleaned["seq_from"]:
            self.add_error("seq_to", "The last event number must not be below the first.")
        for name in ("action", "subject", "actor"):
            cleaned[name] = (cleaned.get(name) or "").strip()
        return cleaned

    def as_div(self) -> SafeString:
        """The form's HTML, rendered once for each set of values without errors: it depends on
        nothing else (a form in error, whose messages vary, is rendered each time)."""
        if not self.is_bound or self.errors:
            return super().as_div()
        key = tuple(self.data.get(name) for name in self.fields)
        html = _AUDIT_FILTERS_HTML.get(key)
        if html is None:
            if len(_AUDIT_FILTERS_HTML) >= _AUDIT_FILTERS_KEPT:
                _AUDIT_FILTERS_HTML.clear()
            html = _AUDIT_FILTERS_HTML[key] = super().as_div()
        return html
