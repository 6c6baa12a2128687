"""The portal's navigation offers each persona the pages that are theirs, in one query a page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bespoke.templatetags.portal_nav import portal_nav_links
from consent.models import Membership

pytestmark = pytest.mark.django_db


def _shown(user) -> set[str]:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        links = portal_nav_links(user)
    assert len(queries) == (1 if user.is_authenticated else 0), [q["sql"] for q in queries]
    return {name for name, shown in links.items() if shown}


def test_each_persona_is_offered_the_pages_that_are_theirs(personas, django_user_model):
    assert _shown(AnonymousUser()) == set()
    assert _shown(personas.alice) == {"representatives"}
    assert _shown(personas.bob) == {"stories"}
    assert _shown(personas.charlie) == {"stories"}
    assert _shown(personas.dana) == {"legal", "audit", "stories"}
    assert _shown(personas.frank) == {"desk"}
    auditor = django_user_model.objects.create_user("ava", password="x")
    Membership.objects.create(user=auditor, organization=personas.studio, role=Membership.Role.AUDITOR)
    assert _shown(auditor) == {"audit", "stories"}  # a studio member reads its stories
