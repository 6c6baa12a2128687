"""Which legal pages the navigation offers the signed-in user."""

from __future__ import annotations

from typing import Any

from django import template

from consent.models import Membership

register = template.Library()


@register.simple_tag
def legal_nav_links(user: Any) -> dict[str, bool]:
    """{"legal": ..., "audit": ...}: legal staff manage templates; legal staff and auditors read the audit log."""
    if not user.is_authenticated:
        return {"legal": False, "audit": False}
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    return {"legal": Membership.Role.LEGAL in roles,
            "audit": bool(roles & {Membership.Role.LEGAL, Membership.Role.AUDITOR})}
