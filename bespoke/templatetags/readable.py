"""How the portal writes times and documents for people: one format for a moment (with its
time zone), one for a day, and a signed text laid out as flowing paragraphs.

    {% load readable %}
    {{ job.created_at|when }}      1 Dec 2026, 13:34 UTC
    {{ license.ends_on|day }}      1 Dec 2026
    {{ status.since|when }}        an ISO string from the API's shapes reads the same way
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from consent import license_terms

register = template.Library()

MOMENT = "j M Y, H:i T"
DAY = "j M Y"


def _parsed(value: Any) -> date | datetime | None:
    """A date or datetime from a value that is one, or from its ISO text ("2026-12-01" is a day)."""
    if isinstance(value, (date, datetime)):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        return None


def moment_text(value: Any) -> str:
    """A moment in the portal's time zone, to the minute, naming the zone; a bare date as a day.
    Anything else is returned as given, so a page never fails on an odd value."""
    parsed = _parsed(value)
    if parsed is None:
        return "" if value is None else str(value)
    if not isinstance(parsed, datetime):
        return dateformat.format(parsed, DAY)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
    return dateformat.format(timezone.localtime(parsed), MOMENT)


def day_text(value: Any) -> str:
    """The day of a date or of a moment (in the portal's time zone)."""
    parsed = _parsed(value)
    if parsed is None:
        return "" if value is None else str(value)
    if isinstance(parsed, datetime) and timezone.is_aware(parsed):
        parsed = timezone.localtime(parsed)
    return dateformat.format(parsed, DAY)


@register.filter
def when(value: Any) -> str:
    return moment_text(value)


@register.filter
def day(value: Any) -> str:
    return day_text(value)


def text_paragraphs(text: str) -> list[str]:
    """The paragraphs of a plain-text document: a blank line ends one, and an indented line
    continues the line above it (texts hard-wrapped for a fixed width read as one sentence)."""
    paragraphs: list[str] = []
    continuing = False
    for line in text.splitlines():
        if not line.strip():
            continuing = False
            continue
        if continuing and line[:1].isspace():
            paragraphs[-1] = f"{paragraphs[-1]} {line.strip()}"
        else:
            paragraphs.append(line.strip())
        continuing = True
    return paragraphs


@register.filter
def paragraphs(text: str) -> SafeString:
    """The text as <p> elements, each escaped; the words are the text's own, in its order."""
    return format_html_join("\n", "<p>{}</p>", ((paragraph,) for paragraph in text_paragraphs(text or "")))


@register.filter
def term_labels(values: Any, term: str) -> str:
    """A license term's codes in words: ["alcohol_tobacco"]|term_labels:"excluded_categories"
    -> "Alcohol and tobacco"."""
    labels = dict(license_terms.TERM[term].choices)
    return ", ".join(str(labels.get(value, value)) for value in values or ())
