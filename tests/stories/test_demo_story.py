"""The demo story `manage.py bootstrap` drafts ships with the package (stories/demo/): its Ink
source and the JSON the vendored inkjs compiled from it (tests/stories/test_ink.py recompiles it)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

import stories
from audit.models import AuditEvent
from stories.models import Story, StoryRole

SHIPPED = Path(stories.__file__).resolve().parent / "demo"


@pytest.mark.django_db
def test_bootstrap_drafts_the_demo_story_for_bob_once(tiny_model):
    outputs = [StringIO(), StringIO()]
    for out in outputs:
        call_command("bootstrap", stdout=out)
    story = Story.objects.get()
    assert (story.title, story.status, story.organization.name, story.created_by.username) == (
        "Harbour Lights", Story.Status.DRAFT, "Northlight Studios", "bob")
    assert (story.ink_source, story.compiled_json) == ((SHIPPED / "harbour.ink").read_text(encoding="utf-8"),
                                                       (SHIPPED / "harbour.json").read_text(encoding="utf-8"))
    assert sorted(StoryRole.objects.filter(story=story).values_list("name", flat=True)) == ["friend", "lead"]
    assert "demo story “Harbour Lights” drafted" in outputs[0].getvalue()
    assert "demo story" not in outputs[1].getvalue()
    assert AuditEvent.objects.filter(action="story.created").count() == 1
