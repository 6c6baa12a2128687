"""Which pages the navigation offers the signed-in user (the policy module says who is who)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django import template
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, Q

from consent import policies
from consent.models import Membership, Representation, Talent
from stories import policies as story_policies

register = template.Library()

NAV_LINKS = ("legal", "audit", "desk", "representatives", "representations", "stories")


@register.simple_tag
def portal_nav_links(user: Any) -> dict[str, bool]:
    """{"legal", "audit", "desk", "representatives", "representations", "stories"}: legal staff
    manage templates; legal staff and auditors read the audit log; verifiers work the desk; a
    talent sees who represents them; whoever holds or asked for a representation follows it;
    a studio's members see its stories. One query, on every portal page."""
    if not user.is_authenticated:
        return dict.fromkeys(NAV_LINKS, False)
    sql, params = _nav_sql(connection.vendor, user)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        found = dict(zip((column[0] for column in cursor.description), row)) if row else {}
    links = {name: bool(found.get(f"nav_{name}")) for name in NAV_LINKS}
    links["audit"] = links["legal"] or bool(found.get("nav_auditor"))
    return links


@lru_cache(maxsize=1024)
def _nav_sql(vendor: str, user: Any) -> tuple[str, tuple[object, ...]]:
    """The navigation's one query for `user` (a user is hashed by its key), compiled once a process:
    on every page, compiling its six EXISTS cost more than running them. `vendor` keys the cache
    (the SQL differs by database)."""
    found = get_user_model().objects.filter(pk=user.pk).values(
        nav_legal=Exists(policies.legal_memberships(user)),
        nav_auditor=Exists(Membership.objects.filter(user_id=user.pk, role=Membership.Role.AUDITOR)),
        nav_desk=Exists(policies.verifier_memberships(user)),
        nav_representatives=Exists(Talent.objects.filter(user_id=user.pk, kind=Talent.Kind.PERFORMER)),
        nav_representations=Exists(Representation.objects.filter(Q(representative_id=user.pk)
                                                                 | Q(requested_by_id=user.pk))
                                   .exclude(talent__user_id=user.pk)),
        nav_stories=Exists(story_policies.story_organization_ids(user)),
    )
    sql, params = found.query.get_compiler(using=found.db).as_sql()
    return sql, tuple(params)
