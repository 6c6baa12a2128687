"""The sign-up form's own fields: viewers sign themselves up; everyone else comes by invitation.

allauth builds its sign-up form on top of this one (ACCOUNT_SIGNUP_FORM_CLASS) and calls
`signup` once the account is saved; `accounts.views.ViewerSignupView` runs both in one
transaction. This module must not import allauth's forms: they import it.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from consent.viewers import viewer_register


class ViewerSignupForm(forms.Form):
    field_order = ["email", "username", "password1", "password2", "display_name", "birth_date", "stars_self"]

    display_name = forms.CharField(
        label="Your name in stories", max_length=200, help_text="How the stories you star in will name you.",
        widget=forms.TextInput(attrs={"autocomplete": "name"}))
    birth_date = forms.DateField(
        label="Date of birth", help_text="Only adults star in stories.",
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"))
    stars_self = forms.BooleanField(
        label="I am signing up to star in interactive stories myself, with my own face.",
        error_messages={"required": "Viewer accounts are for starring in stories yourself. Performers and studio "
                                    "staff join through an invitation."})

    def signup(self, request: HttpRequest, user: AbstractBaseUser) -> None:
        viewer_register(user=user, display_name=self.cleaned_data["display_name"],
                        birth_date=self.cleaned_data["birth_date"], acting_user=user)
