"""Which pages the navigation offers the signed-in user (the policy module says who is who)."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Q

from consent import policies
from consent.models import Membership, Representation, Talent
from stories import policies as story_policies

register = template.Library()


@register.simple_tag
def portal_nav_links(user: Any) -> dict[str, bool]:
    """{"legal", "audit", "desk", "representatives", "representations", "stories"}: legal staff
    manage templates; legal staff and auditors read the audit log; verifiers work the desk; a
    talent sees who represents them; whoever holds or asked for a representation follows it;
    a studio's members see its stories."""
    if not user.is_authenticated:
        return dict.fromkeys(("legal", "audit", "desk", "representatives", "representations", "stories"), False)
    is_talent = Talent.objects.filter(user_id=user.pk, kind=Talent.Kind.PERFORMER).exists()
    return {
        "legal": policies.is_legal(user),
        "audit": policies.is_legal(user) or Membership.objects.filter(
            user_id=user.pk, role=Membership.Role.AUDITOR).exists(),
        "desk": policies.is_verifier(user),
        "representatives": is_talent,
        "representations": Representation.objects.filter(Q(representative_id=user.pk) | Q(requested_by_id=user.pk))
        .exclude(talent__user_id=user.pk).exists(),
        "stories": story_policies.story_organization_ids(user).exists(),
    }
