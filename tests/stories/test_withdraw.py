"""A studio's author withdraws a published story: it leaves the list viewers star in and no new
playthrough starts; only the studio's authors may do it, and only once."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from core.errors import InvalidTransition, NotAllowed
from stories import play, selectors, services
from stories.models import Story
from tests.conftest import make_license
from tests.viewers import make_viewer, published_story

pytestmark = pytest.mark.django_db


def test_a_withdrawn_story_is_no_longer_open_to_viewers_and_cannot_be_started(personas, django_user_model):
    story = published_story(personas, make_license(personas, interactive=True, max_renders=50))
    vera = make_viewer(django_user_model)
    assert list(selectors.stories_open_to_viewers()) == [story]
    with pytest.raises(NotAllowed):
        services.story_withdraw(story=story, acting_user=personas.charlie)
    services.story_withdraw(story=story, acting_user=personas.bob)
    assert Story.objects.get(pk=story.pk).status == Story.Status.WITHDRAWN
    assert list(selectors.stories_open_to_viewers()) == []
    with pytest.raises(NotAllowed):
        play.playthrough_start(story=Story.objects.get(pk=story.pk), acting_user=vera.user)
    with pytest.raises(InvalidTransition):
        services.story_withdraw(story=story, acting_user=personas.bob)
    assert AuditEvent.objects.filter(action="story.withdrawn").count() == 1
