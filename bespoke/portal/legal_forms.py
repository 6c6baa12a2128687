"""Forms of legal staff's pages: license drafting and templates, suspensions, the audit log.

The forms read the input's shape (numbers, dates, lists); the consent services judge
the terms, and their refusals are put beside the field they name.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms

from consent.content_policy import CATEGORIES
from consent.services import MAX_RENDERS
from consent.models import LicenseSuspension, LikenessLicense

_SEPARATORS = re.compile(r"[\s,;]+")
BOOLEAN_TERMS = ("dubbing", "advertising", "interactive", "derivatives", "allows_likeness_model",
                 "requires_use_approval")


def _codes(value: str) -> list[str]:
    return [code for code in _SEPARATORS.split(value.strip()) if code]


class _TermsForm(forms.Form):
    """The terms a license and a template share."""

    project = forms.CharField(label="Project", max_length=200)
    role = forms.CharField(label="Role", max_length=200)
    use_description = forms.CharField(
        label="Use: the scenes, how the likeness appears and where", widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Describe the use specifically."})
    permitted_media = forms.MultipleChoiceField(label="Permitted media", choices=LikenessLicense.Medium.choices,
                                                widget=forms.CheckboxSelectMultiple,
                                                error_messages={"required": "Tick at least one medium."})
    territories = forms.CharField(label="Territories (ISO country codes such as FR US, or worldwide)",
                                  max_length=1000, error_messages={"required": "Give at least one territory."})
    languages = forms.CharField(label="Languages (codes such as en fr pt-BR)", max_length=500,
                                error_messages={"required": "Give at least one language."})
    dubbing = forms.BooleanField(label="Dubbing into other languages allowed", required=False)
    advertising = forms.BooleanField(label="Advertising allowed", required=False)
    interactive = forms.BooleanField(label="Interactive use (games, real-time) allowed", required=False)
    derivatives = forms.BooleanField(label="Derivative works allowed", required=False)
    allows_likeness_model = forms.BooleanField(label="A likeness model may be trained", required=False)
    excluded_categories = forms.MultipleChoiceField(
        label="Excluded content", required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(category, category.replace("_", " and ").capitalize()) for category in CATEGORIES])
    excluded_uses = forms.CharField(
        label="Uses the talent excludes, in their own words (one per line, such as 'horse riding')", required=False,
        max_length=3000, widget=forms.Textarea(attrs={"rows": 3}))
    requires_use_approval = forms.BooleanField(label="The talent approves each use before it is rendered",
                                               required=False)
    max_renders = forms.IntegerField(label="Most renders allowed", min_value=1, max_value=MAX_RENDERS,
                                     error_messages={"required": "Say how many renders the license allows."})
    representation = forms.ChoiceField(label="Counsel or union (who represented the talent in negotiating these terms)",
                                       choices=LikenessLicense.Representation.choices)
    representation_detail = forms.CharField(label="Counsel or union agreement (when represented)", max_length=200,
                                            required=False)
    compensation_basis = forms.ChoiceField(label="Compensation basis",
                                           choices=LikenessLicense.CompensationBasis.choices)
    compensation_rate = forms.DecimalField(label="Rate", min_value=0, max_digits=12, decimal_places=2,
                                           error_messages={"required": "Give the compensation rate."})
    compensation_currency = forms.CharField(label="Currency (ISO 4217, such as EUR)", max_length=3,
                                            error_messages={"required": "Give the currency."})

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
    starts_on = forms.DateField(label="Starts on", widget=forms.DateInput(attrs={"type": "date"}),
                                error_messages={"required": "Give a start date."})
    ends_on = forms.DateField(label="Ends on", widget=forms.DateInput(attrs={"type": "date"}),
                              error_messages={"required": "Give an end date: no perpetual terms."})
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
    term_months = forms.IntegerField(label="Length of the license, in months", min_value=1, max_value=1200,
                                     error_messages={"required": "Say how many months a license from it lasts."})

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
    reason = forms.ChoiceField(label="Why is the license suspended?", choices=LicenseSuspension.Reason.choices,
                               widget=forms.RadioSelect, error_messages={"required": "Choose a reason."})
    note = forms.CharField(label="Note (kept in the record, shown on the license page)", max_length=2000,
                           required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("reason") == LicenseSuspension.Reason.OTHER and not cleaned.get("note", "").strip():
            self.add_error("note", "Say what the suspension is for.")
        return cleaned


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
