"""Forms of the viewer's pages: starring in a story and playing it."""

from __future__ import annotations

from django import forms

from consent.viewers import Scope


class CaptureForm(forms.Form):
    capture = forms.FileField(
        label="Your capture: a photo or a short video of you holding up the code",
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp,video/mp4,video/webm",
                                      "capture": "user"}),
        error_messages={"required": "Choose the photo or video of you with the code.", "empty": "The file is empty."})


class ViewerConsentForm(forms.Form):
    """Signs the text shown for the chosen scope and approval (chosen on the page, which shows
    the text they make); the hash binds the signature to that exact text."""

    text_sha256 = forms.RegexField(regex=r"^[0-9a-f]{64}$", widget=forms.HiddenInput)
    scope = forms.ChoiceField(choices=[(Scope.STORY, "this story only"),
                                       (Scope.STUDIO, "any interactive story of this studio")],
                              widget=forms.HiddenInput)
    approve_each = forms.BooleanField(required=False, widget=forms.HiddenInput)
    disclosure_accepted = forms.BooleanField(
        label="I have read the electronic-records disclosure and agree to sign electronically",
        error_messages={"required": "Accept the electronic-records disclosure to sign."})


class ChoiceForm(forms.Form):
    choice = forms.IntegerField(min_value=0, required=False)
    after = forms.UUIDField(widget=forms.HiddenInput)
