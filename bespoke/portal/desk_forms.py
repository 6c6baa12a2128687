"""Forms of the verification desk and of representations.

The forms read the input's shape (a date is a date); the desk services judge it, and
their refusals are put beside the field they name (``legal_name``, ``birth_date``,
``valid_until``, ``talent_died_on``, ``note``, ``kind``, ``file``, ``reason``...).
"""

from __future__ import annotations

from typing import Any

from django import forms

from consent.models import Representation, RepresentationEvidence

DATE = {"widget": forms.DateInput(attrs={"type": "date"}), "required": False}
DECISIONS = [("approve", "Approve"), ("reject", "Reject")]


class _DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=DECISIONS, widget=forms.HiddenInput,
                                 error_messages={"required": "Choose to approve or to reject."})
    note = forms.CharField(label="Note (required to reject; kept in the record)", required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}))

    #: The facts the first approval records; a second approval confirms them without retyping.
    facts: tuple[str, ...] = ()

    def __init__(self, *args: Any, first: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not first:
            for name in self.facts:
                del self.fields[name]

    @property
    def approve(self) -> bool:
        return self.cleaned_data["decision"] == "approve"

    def recorded(self) -> dict[str, Any]:
        """The facts as typed, for the first approval (none for a second or a rejection)."""
        if not self.approve:
            return {}
        return {name: self.cleaned_data.get(name) or None for name in self.facts if name in self.fields}


class VerificationDecisionForm(_DecisionForm):
    legal_name = forms.CharField(label="Legal name, as the identity document shows it", max_length=200,
                                 required=False)
    birth_date = forms.DateField(label="Date of birth, as the identity document shows it", **DATE)

    facts = ("legal_name", "birth_date")
    field_order = ["legal_name", "birth_date", "note"]


class RepresentationDecisionForm(_DecisionForm):
    legal_name = forms.CharField(label="The representative's legal name, as their identity document shows it",
                                 max_length=200, required=False)
    valid_from = forms.DateField(label="In force from (today when left empty)", **DATE)
    valid_until = forms.DateField(label="In force until (a guardian's ends at the talent's 18th birthday at the latest)",
                                  **DATE)
    talent_died_on = forms.DateField(label="Date of death, as the death certificate shows it", **DATE)

    facts = ("legal_name", "valid_from", "valid_until", "talent_died_on")
    field_order = ["legal_name", "valid_from", "valid_until", "talent_died_on", "note"]

    def __init__(self, *args: Any, first: bool, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, first=first, **kwargs)
        if kind != Representation.Kind.ESTATE and "talent_died_on" in self.fields:
            del self.fields["talent_died_on"]


class AskToRepresentForm(forms.Form):
    """A guardian or an estate's executor asks to represent a talent."""

    kind = forms.ChoiceField(label="I ask to be", widget=forms.RadioSelect, choices=[
        (Representation.Kind.GUARDIAN, "The guardian of a minor"),
        (Representation.Kind.ESTATE, "The executor of a deceased talent's estate")],
        error_messages={"required": "Choose guardian or executor."})
    talent_username = forms.CharField(label="The talent's username", max_length=150,
                                      error_messages={"required": "Name the talent to represent."})


class NameRepresentativeForm(forms.Form):
    """A talent names their guardian or their agent."""

    kind = forms.ChoiceField(label="They will be my", widget=forms.RadioSelect, choices=[
        (Representation.Kind.GUARDIAN, "Guardian (while I am a minor)"),
        (Representation.Kind.AGENT, "Authorised agent")],
        error_messages={"required": "Choose guardian or agent."})
    representative_username = forms.CharField(label="Their username", max_length=150,
                                              error_messages={"required": "Give your representative's username."})


class RepresentationEvidenceForm(forms.Form):
    kind = forms.ChoiceField(label="What is this?", choices=[
        (RepresentationEvidence.Kind.ID_DOCUMENT, "A photo or scan of my own identity document"),
        (RepresentationEvidence.Kind.CONSENT_CAPTURE, "A photo or short video of me showing the code"),
        (RepresentationEvidence.Kind.AUTHORITY, "The document that gives me authority (PDF or image)")])
    file = forms.FileField(label="File", error_messages={"required": "Choose a file to upload.",
                                                         "empty": "The file is empty."})


class EndRepresentationForm(forms.Form):
    reason = forms.CharField(label="Why does this representation end? (kept in the record)", max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             error_messages={"required": "Say why the representation ends."})
