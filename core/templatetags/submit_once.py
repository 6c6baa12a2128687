"""`{% form_tokens %}` in every form that posts: the CSRF field and a fresh submission token
(core.submit_once), so that sending the form twice does its work once.
`{% submission_token %}` writes the token alone, for a form that already has the CSRF field."""

from __future__ import annotations

from django import template
from django.template.defaulttags import CsrfTokenNode
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.submit_once import FIELD, new_submission_token

register = template.Library()


@register.simple_tag
def submission_token() -> SafeString:
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_submission_token())


@register.simple_tag(takes_context=True)
def form_tokens(context: template.Context) -> SafeString:
    return format_html("{}{}", CsrfTokenNode().render(context), submission_token())
