"""Portal forms: every error is shown next to its field, in plain words."""

from __future__ import annotations

from django import forms

from generation.params import MAX_PROMPT_CHARS


class SignForm(forms.Form):
    text_sha256 = forms.RegexField(regex=r"^[0-9a-f]{64}$", widget=forms.HiddenInput)
    disclosure_accepted = forms.BooleanField(
        label="I have read the electronic-records disclosure and agree to sign electronically",
        error_messages={"required": "Accept the electronic-records disclosure to sign."})


class RevokeForm(forms.Form):
    reason = forms.CharField(label="Why are you revoking? (kept in the record, never shared in outputs)",
                             max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                             error_messages={"required": "Give a reason for the revocation."})


class RenderRequestForm(forms.Form):
    prompt = forms.CharField(label="Scene", max_length=MAX_PROMPT_CHARS, widget=forms.Textarea(attrs={"rows": 2}),
                             error_messages={"required": "Describe the scene to render."})
    num_frames = forms.IntegerField(label="Frames", min_value=2, max_value=32, required=False, initial=8)
    steps = forms.IntegerField(label="Denoising steps", min_value=1, max_value=100, required=False, initial=12)
    seed = forms.IntegerField(label="Seed", min_value=0, max_value=2**32 - 1, required=False, initial=0)
