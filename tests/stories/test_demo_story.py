"""The demo story `manage.py bootstrap` publishes ships with the package (stories/demo/): its Ink
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
def test_bootstrap_publishes_the_demo_story_for_bob_once_with_the_viewer_as_the_lead(tiny_model):
    outputs = [StringIO(), StringIO()]
    for out in outputs:
        call_command("bootstrap", stdout=out)
    story = Story.objects.get()
    assert (story.title, story.status, story.organization.name, story.created_by.username) == (
        "Harbour Lights", Story.Status.PUBLISHED, "Northlight Studios", "bob")
    assert (story.ink_source, story.compiled_json) == ((SHIPPED / "harbour.ink").read_text(encoding="utf-8"),
                                                       (SHIPPED / "harbour.json").read_text(encoding="utf-8"))
    roles = {role.name: role for role in StoryRole.objects.filter(story=story).select_related("license__talent")}
    assert sorted(roles) == ["friend", "lead"] and roles["lead"].kind == StoryRole.Kind.VIEWER
    assert roles["friend"].license.talent.display_name == "Theo Marsh" and roles["friend"].license.interactive
    assert "demo story “Harbour Lights” published" in outputs[0].getvalue()
    assert "demo story" not in outputs[1].getvalue()
    assert AuditEvent.objects.filter(action="story.created").count() == 1
