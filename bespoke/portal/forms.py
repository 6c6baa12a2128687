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
    keyframe = forms.BooleanField(label="Keyframe first: one still to approve (or redo) before it is animated",
                                  required=False)


class KeyframeDecisionForm(forms.Form):
    """The producer's answer to a published keyframe: animate it, or make another in its place."""

    keyframe_job = forms.UUIDField(widget=forms.HiddenInput)
    keyframe_decision = forms.ChoiceField(choices=[("animate", "Animate"), ("redo", "Redo")])


class VerificationStartForm(forms.Form):
    method = forms.ChoiceField(label="How should the verification desk check your identity?", choices=[
        ("document", "Government ID document"), ("video_call", "Live video call"), ("in_person", "In person")])


class EvidenceForm(forms.Form):
    kind = forms.ChoiceField(label="What is this?", choices=[
        ("id_document", "A photo or scan of my identity document"),
        ("consent_capture", "A photo or short video of me showing the code")])
    file = forms.FileField(label="File", error_messages={"required": "Choose a file to upload."})


class ReportForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        if cleaned.get("start") and cleaned.get("end") and cleaned["end"] < cleaned["start"]:
            self.add_error("end", "The period must end on or after its start.")
        return cleaned
