"""Forms of the story pages: authoring a story from Ink, casting a role.

The forms read the input's shape only. The page compiles the Ink source in the browser (the
vendored inkjs) into the hidden ``compiled_json``; without JavaScript the author uploads the
JSON that Inky exports instead. ``stories.services`` judges the story and its cast.
"""

from __future__ import annotations

from typing import Any

from django import forms

from stories.services import MAX_COMPILED_BYTES, MAX_SOURCE_BYTES

VIEWER = "viewer"


class StoryCreateForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200, required=False,
                            help_text="Leave empty to use the story's own '# title:' tag.")
    organization = forms.ChoiceField(label="Studio")
    ink_source = forms.CharField(
        label="Ink source", required=False, max_length=MAX_SOURCE_BYTES, strip=False,
        widget=forms.Textarea(attrs={"rows": 24, "cols": 72, "spellcheck": "false", "class": "ink-source"}),
        help_text="Write the story in Ink, then Compile: the compiler runs in your browser.")
    compiled_json = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)
    compiled_file = forms.FileField(
        label="Or upload a compiled story (the JSON Inky exports)", required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
        help_text="An upload is used instead of the source above; its problems then name scenes, not lines.")

    def __init__(self, *args: Any, organizations: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = organizations
        self.only_organization = organizations[0][0] if len(organizations) == 1 else None
        if self.only_organization is not None:
            self.fields["organization"].initial = self.only_organization
            self.fields["organization"].required = False
            self.fields["organization"].widget = forms.HiddenInput()

    def clean_organization(self) -> str:
        return self.only_organization or self.cleaned_data["organization"]

    def clean_ink_source(self) -> str:
        """As the browser compiled it: a form posts a textarea's lines ending in CR LF."""
        return self.cleaned_data["ink_source"].replace("\r\n", "\n")

    def clean_compiled_file(self) -> str:
        upload = self.cleaned_data.get("compiled_file")
        if not upload:
            return ""
        if upload.size > MAX_COMPILED_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_COMPILED_BYTES // 1024} KiB.")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text: upload the JSON file Inky exports.") from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors and not cleaned.get("compiled_file") and not cleaned.get("compiled_json"):
            if cleaned.get("ink_source", "").strip():
                self.add_error("ink_source", "Compile the source first (the compiler runs in the browser, with "
                                             "JavaScript), or upload the JSON that Inky exports.")
            else:
                self.add_error("compiled_file", "Write the story in Ink and compile it, or upload the JSON "
                                                "that Inky exports.")
        return cleaned

    def story_fields(self) -> dict[str, str]:
        """What story_create takes: an upload is used instead of the source (and its compiled text)."""
        data = self.cleaned_data
        if data["compiled_file"]:
            return {"title": data["title"], "compiled_json": data["compiled_file"], "ink_source": ""}
        return {"title": data["title"], "compiled_json": data["compiled_json"], "ink_source": data["ink_source"]}


class RoleCastForm(forms.Form):
    """One role's cast: one of the studio's licenses (a talent) or the viewer who plays the story."""

    cast = forms.ChoiceField(label="Cast", error_messages={"required": "Choose a license or the viewer.",
                                                           "invalid_choice": "Choose one of the studio's licenses "
                                                                             "or the viewer."})

    def __init__(self, *args: Any, licenses: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cast"].choices = [("", "Choose…"), (VIEWER, "The viewer (whoever plays the story)"),
                                       *licenses]
