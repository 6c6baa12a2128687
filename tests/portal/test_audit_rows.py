"""Each row of the audit log: its moment to the minute as the portal writes moments, the
actor's username beside a user actor, short data whole and long data behind a summary."""

from __future__ import annotations

import html
import json

import pytest
from django.urls import reverse

from accounts.services import totp_enrol
from audit.actors import user_actor
from audit.models import AuditEvent
from audit.services import audit_append
from bespoke.templatetags.readable import moment_text

pytestmark = pytest.mark.django_db


def test_each_row_shows_its_moment_actor_and_data(client, personas):
    subject = f"organization:{personas.studio.id}"
    audit_append(action="test.short", actor=user_actor(personas.bob), subject=subject, data={"n": 1})
    long_data = {"note": "<b>" + "a long note that runs on " * 5 + "</b>", "n": 2}
    audit_append(action="test.long", actor="system:test", subject=subject, data=long_data)
    totp_enrol(user=personas.dana)
    client.force_login(personas.dana)

    page = client.get(reverse("portal-audit-log"), {"action": "test."}).content.decode()

    short, long = (AuditEvent.objects.get(action=action) for action in ("test.short", "test.long"))
    assert page.count(f'<td data-label="When">{moment_text(short.occurred_at)}</td>') >= 1
    assert f'<td data-label="When">{moment_text(long.occurred_at)}</td>' in page
    assert f"<code>{user_actor(personas.bob)}</code> <span class=\"muted\">(bob)</span>" in page
    assert '<td data-label="Data"><code>{&quot;n&quot;: 1}</code></td>' in page
    whole = json.dumps(long_data, sort_keys=True, ensure_ascii=False)
    summary = whole[:59] + "…"
    assert (f"<details><summary><code>{html.escape(summary)}</code></summary><code>{html.escape(whole)}</code>"
            "</details>") in page
    assert "<b>" not in page.split("<h1>Audit log</h1>", 1)[1]
