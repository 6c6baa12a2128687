"""allauth's sign-up page, for viewers (the form's fields are accounts.viewer_signup's)."""

from __future__ import annotations

from allauth.account.views import SignupView
from django.db import transaction
from django.http import HttpResponse

from core.errors import ApplicationError


class ViewerSignupView(SignupView):
    """The account, its email address and its viewer profile are made together or not at all;
    a refusal of the profile (an under-age birth date, say) is shown next to its field."""

    def form_valid(self, form) -> HttpResponse:  # type: ignore[no-untyped-def]
        try:
            with transaction.atomic():
                return super().form_valid(form)
        except ApplicationError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, refusal.message)
            return self.form_invalid(form)


signup = ViewerSignupView.as_view()
