"""How every form in the portal is laid out (settings.FORM_RENDERER).

Each field is one block: its label, help text, error list and control, in that order (Django's
div layout; the portal's templates render forms with ``as_div``, never ``as_p``, which puts a
field's errors before its block, under the previous field). The control names its help text
and error list in ``aria-describedby`` and says ``aria-invalid``, so a screen reader reads the
error with the field; the block of a field in error is marked ``invalid`` for the eye. Errors
of the whole form come first, in an alert, once.
"""

from __future__ import annotations

from django.forms.boundfield import BoundField
from django.forms.widgets import CheckboxInput
from django.forms.renderers import TemplatesSetting

INVALID_CLASS = "invalid"


class PortalBoundField(BoundField):
    @property
    def aria_describedby(self) -> str | None:
        """The widget's own description (if it declares one), then the help text, then the errors.
        Django drops the help text and errors when a widget declares its own; this keeps all three."""
        described_by = [self.field.widget.attrs["aria-describedby"]] \
            if self.field.widget.attrs.get("aria-describedby") else []
        if self.auto_id and not self.is_hidden:
            if self.help_text:
                described_by.append(f"{self.auto_id}_helptext")
            if self.errors:
                described_by.append(f"{self.auto_id}_error")
        return " ".join(described_by) or None

    def label_tag(self, contents: str | None = None, attrs: dict | None = None, label_suffix: str | None = None,
                  tag: str | None = None) -> str:
        """A checkbox's label is a sentence beside the box, with no colon after it."""
        if label_suffix is None and isinstance(self.field.widget, CheckboxInput):
            label_suffix = ""
        return super().label_tag(contents, attrs, label_suffix, tag)

    def css_classes(self, extra_classes: str | list[str] | None = None) -> str:
        classes = super().css_classes(extra_classes)
        if self.errors and INVALID_CLASS not in classes.split():
            classes = f"{classes} {INVALID_CLASS}".strip()
        return classes


class PortalFormRenderer(TemplatesSetting):
    """The project's templates first (templates/django/forms/div.html: the errors of the whole form
    in an alert), then Django's own (django.forms is an installed app)."""

    form_template_name = "django/forms/div.html"
    bound_field_class = PortalBoundField
