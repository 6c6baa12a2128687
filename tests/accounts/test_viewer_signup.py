"""Viewers sign themselves up to star in stories: allauth's sign-up with a verified email.

Vera signs up, is not signed in until she follows the emailed link, and lands on a home
that lists the published stories she can star in. Max, seventeen, is refused on his date
of birth and no account is made. Talent and studio staff still come by invitation only.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from allauth.account.models import EmailAddress
from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import Talent
from consent.viewers import viewer_register
from stories import services as stories
from stories.models import StoryRole
from tests.conftest import make_license
from tests.stories import story_file

pytestmark = pytest.mark.django_db

SIGNUP = "/accounts/signup/"
GOOD_PASSWORD = "quiet-harbour-lantern-42"
VERA_BORN = date(1994, 6, 3)


def _form(**fields: str) -> dict[str, str]:
    return {"email": "vera@example.org", "username": "vera", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD,
            "display_name": "Vera Vance", "birth_date": VERA_BORN.isoformat(), "stars_self": "on", **fields}


def _confirmation_path(body: str) -> str:
    match = re.search(r"http://testserver(/accounts/confirm-email/[^/\s]+/)", body)
    assert match, body
    return match.group(1)


def _state() -> tuple[int, ...]:
    return (get_user_model().objects.count(), EmailAddress.objects.count(), Talent.objects.count(),
            AuditEvent.objects.count())


def test_vera_signs_up_is_kept_out_until_she_follows_the_emailed_link_then_lands_signed_in(client):
    page = client.get(SIGNUP).content.decode()
    assert "Sign up to star in stories" in page
    for name in ("email", "username", "password1", "password2", "display_name", "birth_date", "stars_self"):
        assert f'name="{name}"' in page

    response = client.post(SIGNUP, _form())
    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session
    vera = get_user_model().objects.get(username="vera")
    talent = Talent.objects.get(user=vera)
    assert (talent.kind, talent.declared_birth_date, talent.display_name) == \
        (Talent.Kind.VIEWER, VERA_BORN, "Vera Vance")
    assert not EmailAddress.objects.get(user=vera).verified
    assert AuditEvent.objects.filter(action="viewer.registered", subject=f"talent:{talent.id}").exists()

    # Her password alone does not sign her in, and the portal still greets a stranger.
    signin = client.post("/accounts/login/", {"login": "vera", "password": GOOD_PASSWORD})
    assert signin["Location"] == "/accounts/confirm-email/" and "_auth_user_id" not in client.session
    assert "Star in a story" not in client.get("/").content.decode()

    assert mail.outbox[0].to == ["vera@example.org"]
    link = _confirmation_path(mail.outbox[0].body)
    assert client.get(link).status_code == 200
    confirmed = client.post(link)
    assert confirmed.status_code == 302 and confirmed["Location"] == "/"
    assert client.session["_auth_user_id"] == str(vera.pk)
    assert EmailAddress.objects.get(user=vera).verified
    assert "Star in a story" in client.get("/").content.decode()


def test_max_at_seventeen_is_refused_on_his_date_of_birth_and_no_account_is_made(client):
    seventeen = timezone.localdate() - relativedelta(years=18) + timedelta(days=1)
    before = _state()
    response = client.post(SIGNUP, _form(email="max@example.org", username="max", display_name="Max Moreau",
                                         birth_date=seventeen.isoformat()))
    page = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'<ul class="errorlist" id="id_birth_date_error"><li>Only adults \(18 or older\)', page)
    assert _state() == before and not mail.outbox
    assert not get_user_model().objects.filter(username="max").exists()


def test_sign_up_is_closed_when_bespoke_viewer_signup_is_off(client, settings):
    settings.BESPOKE_VIEWER_SIGNUP = False
    assert SIGNUP not in client.get("/accounts/login/").content.decode()
    assert SIGNUP not in client.get("/").content.decode()
    before = _state()
    response = client.post(SIGNUP, _form())
    assert b"Sign-up closed" in response.content and _state() == before and not mail.outbox


def test_a_viewers_home_lists_published_stories_with_a_viewer_role_and_not_drafts(personas):
    compiled = story_file("harbour.json").read_text(encoding="utf-8")
    source = story_file("harbour.ink").read_text(encoding="utf-8")
    license = make_license(personas, interactive=True)
    published = stories.story_create(organization=personas.studio, title="The Keeper's Light", compiled_json=compiled,
                                     ink_source=source, acting_user=personas.bob)
    draft = stories.story_create(organization=personas.studio, title="Low Tide", compiled_json=compiled,
                                 ink_source=source, acting_user=personas.bob)
    for story in (published, draft):
        stories.story_role_cast(role=StoryRole.objects.get(story=story, name="lead"), license=license,
                                acting_user=personas.bob)
        stories.story_role_cast(role=StoryRole.objects.get(story=story, name="friend"), viewer=True,
                                acting_user=personas.bob)
    stories.story_publish(story=published, acting_user=personas.bob)

    vera = get_user_model().objects.create_user(username="vera", password=GOOD_PASSWORD)
    viewer_register(user=vera, display_name="Vera Vance", birth_date=VERA_BORN, acting_user=vera)
    client = Client()
    client.force_login(vera)
    page = client.get("/").content.decode()
    assert "Star in a story" in page
    assert "The Keeper&#x27;s Light" in page and "Northlight Studios" in page
    assert f'href="/stories/{published.id}/star/"' in page
    assert "Low Tide" not in page and f"/stories/{draft.id}/" not in page

    alice = Client()
    alice.force_login(personas.alice)
    assert "Star in a story" not in alice.get("/").content.decode()  # a performer is cast by studios
