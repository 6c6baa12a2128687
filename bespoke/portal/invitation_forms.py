"""Forms for invitations: legal staff invite someone; the invitee chooses a username and password."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.db.models import QuerySet

from accounts.models import Invitation
from consent.models import Membership, Organization
from consent.policies import STUDIO_ROLES


class InviteForm(forms.Form):
    organization = forms.ModelChoiceField(label="Organisation", queryset=Organization.objects.none(), empty_label=None)
    kind = forms.ChoiceField(label="Who are you inviting?", choices=Invitation.Kind.choices,
                             widget=forms.RadioSelect, initial=Invitation.Kind.TALENT)
    role = forms.ChoiceField(label="Role (for a member)", required=False,
                             choices=[("", "—")] + [(role, Membership.Role(role).label) for role in STUDIO_ROLES])
    display_name = forms.CharField(label="Name (for talent: as it appears on licenses)", max_length=200,
                                   required=False)
    email = forms.EmailField(label="Email address", error_messages={"required": "Give the address to send the link to."})

    def __init__(self, *args: Any, organizations: QuerySet[Organization], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") == Invitation.Kind.TALENT and not data.get("display_name", "").strip():
            self.add_error("display_name", "Give the talent's name as it should appear on licenses.")
        if data.get("kind") == Invitation.Kind.MEMBER and not data.get("role"):
            self.add_error("role", "Choose the role they will have.")
        return data


class AcceptForm(forms.Form):
    username = forms.CharField(label="Username", max_length=150)
    password = forms.CharField(label="Password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                               help_text=password_validation.password_validators_help_text_html())
    password_confirm = forms.CharField(label="Password (again)", strip=False,
                                       widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        User = get_user_model()
        candidate = User(**{User.USERNAME_FIELD: self.cleaned_data.get("username", "")}, email=self.email)
        password_validation.validate_password(password, user=candidate)
        return password

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_confirm"):
            self.add_error("password_confirm", "The two passwords do not match.")
        return data
