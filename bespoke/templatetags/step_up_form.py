"""Back on a form after a step-up: the notice, and what the person had entered, for
`bespoke/kept_form.js` to put back into the form it was posted from."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html, json_script
from django.utils.safestring import SafeString, mark_safe

from core.stepup import kept_submission

register = template.Library()

# Said by kept_form.js once it has filled the form in; without scripts the page says the other.
NOTICE = "You have confirmed it is you. What you entered is back in the form: check it, then submit it again."
NOTICE_WITHOUT_SCRIPTS = "You have confirmed it is you. Fill in the form again, then submit it."


@register.simple_tag(takes_context=True)
def step_up_kept_form(context: dict[str, Any]) -> SafeString:
    request = context.get("request")
    kept = kept_submission(request) if request is not None and hasattr(request, "session") else None
    if kept is None:
        return mark_safe("")
    return format_html('<p class="notice" role="status" id="kept-form-notice" data-restored="{}">{}</p>{}', NOTICE,
                       NOTICE_WITHOUT_SCRIPTS, json_script(kept, "kept-form"))
