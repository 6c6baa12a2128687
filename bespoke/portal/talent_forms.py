"""Forms of the talent's own pages: every error is shown next to its field, in plain words."""

from __future__ import annotations

from django import forms

ERASE_PHRASE = "erase my data"


class ReferencePhotoForm(forms.Form):
    photo = forms.FileField(
        label="Photo (JPEG, PNG or WebP)", widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        error_messages={"required": "Choose a photo to upload.", "empty": "The file is empty.",
                        "invalid": "The upload did not arrive as a file; choose the photo again."})


class EraseForm(forms.Form):
    confirmation = forms.CharField(
        label=f"To confirm, type “{ERASE_PHRASE}”", max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": f"Type “{ERASE_PHRASE}” to confirm. Nothing was erased."})

    def clean_confirmation(self) -> str:
        typed = " ".join(self.cleaned_data["confirmation"].split()).lower()
        if typed != ERASE_PHRASE:
            raise forms.ValidationError(f"That does not match: type “{ERASE_PHRASE}” exactly. Nothing was erased.")
        return typed
