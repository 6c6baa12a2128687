"""`manage.py demo` runs beside a portal in use: it acts with its own organisations and people, so
nothing a portal persona sees (their licenses, renders, verifications, stories, colleagues) changes."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Q

from bespoke.management.commands.bootstrap import DEMO_USERS, LICENSEE, OPERATOR, OTHER_STUDIO

PORTAL_ORGANIZATIONS = (LICENSEE, OTHER_STUDIO, OPERATOR)


def _what_the_portals_people_see() -> dict[str, list[str]]:
    from consent.models import IdentityVerification, LikenessLicense, Membership, Talent
    from generation.models import RenderCast, RenderJob, TrainingJob
    from stories.models import Playthrough, Story
    from stories.selectors import stories_open_to_viewers

    people = Q(username__in=DEMO_USERS)
    licenses = LikenessLicense.objects.filter(Q(talent__user__username__in=DEMO_USERS)
                                              | Q(licensee__name__in=PORTAL_ORGANIZATIONS))
    license_ids = list(licenses.values_list("id", flat=True))
    jobs = RenderJob.objects.filter(Q(license_id__in=license_ids) | Q(requested_by__in=_users(people))
                                    | Q(cast__in=RenderCast.objects.filter(license_id__in=license_ids)))
    return {
        "licenses": sorted(f"{license.id} {license.status}" for license in licenses),
        "renders": sorted(str(job.id) for job in jobs.distinct()),
        "trainings": sorted(str(job.id) for job in TrainingJob.objects.filter(license_id__in=license_ids)),
        "talents": sorted(str(talent.id) for talent in Talent.objects.filter(user__username__in=DEMO_USERS)),
        "verifications": sorted(str(v.id) for v in IdentityVerification.objects.filter(
            Q(talent__user__username__in=DEMO_USERS) | Q(first_approved_by__in=_users(people))
            | Q(decided_by__in=_users(people)))),
        "memberships": sorted(f"{m.organization.name} {m.user.username} {m.role}" for m in Membership.objects.filter(
            organization__name__in=PORTAL_ORGANIZATIONS).select_related("organization", "user")),
        "stories": sorted(str(story.id) for story in Story.objects.filter(organization__name__in=PORTAL_ORGANIZATIONS)),
        "playthroughs": sorted(str(p.id) for p in Playthrough.objects.filter(
            story__organization__name__in=PORTAL_ORGANIZATIONS)),
        "stories open to viewers": sorted(str(story.id) for story in stories_open_to_viewers()),
    }


def _users(condition: Q):  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(condition)


@pytest.mark.django_db(transaction=True)
def test_the_demo_changes_nothing_the_portals_demo_accounts_see(tiny_model, tmp_path):
    call_command("bootstrap", stdout=StringIO())
    before = _what_the_portals_people_see()
    assert before["talents"] and before["memberships"] and before["stories"]
    call_command("demo", out=tmp_path / "demo", stdout=StringIO())
    assert json.loads((tmp_path / "demo" / "report.json").read_text())["ok"] is True
    assert _what_the_portals_people_see() == before
