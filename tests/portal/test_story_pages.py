"""The story pages: Bob (producer at Northlight) authors a story from Ink, casts its roles
and publishes it; Charlie (producer at Harbour Pictures) is told it is not there. The
compiled JSON is the fixture inkjs compiled from the source (never written by hand)."""

from __future__ import annotations

import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from bespoke.templatetags.readable import moment_text
from stories import services
from stories.models import Story, StoryRole
from tests.conftest import make_license
from tests.portal.people import signed_in, text
from tests.stories import story_file

pytestmark = pytest.mark.django_db

SOURCE = story_file("harbour.ink").read_text(encoding="utf-8")
COMPILED = story_file("harbour.json").read_text(encoding="utf-8")


def _create(personas) -> Story:  # type: ignore[no-untyped-def]
    return services.story_create(organization=personas.studio, title="", compiled_json=COMPILED, ink_source=SOURCE,
                                 acting_user=personas.bob)


def _role(story: Story, name: str) -> StoryRole:
    return StoryRole.objects.get(story=story, name=name)


def _line(text_: str, source: str = SOURCE) -> int:
    [number] = [n for n, line in enumerate(source.splitlines(), start=1) if line.strip() == text_]
    return number


def _problems(page: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", item).strip()
            for item in re.findall(r'<li class="bad"[^>]*>(.*?)</li>', page, re.DOTALL)]


def test_a_producer_creates_a_story_from_its_source_and_sees_its_scenes(personas):
    bob = signed_in(personas.bob)
    assert 'href="/stories/"' in text(bob.get("/"))
    page = bob.get(reverse("portal-story-new"))
    assert page.status_code == 200
    assert "stories/vendor/inkjs/ink-full.js" in text(page) and "stories/story_compile.js" in text(page)
    response = bob.post(reverse("portal-story-new"), {"title": "", "ink_source": SOURCE, "compiled_json": COMPILED})
    story = Story.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("portal-story", args=[story.id])
    assert (story.title, story.ink_source, story.compiled_json, story.status) == (
        "Harbour Lights", SOURCE, COMPILED, Story.Status.DRAFT)
    page = text(bob.get(response["Location"]))
    assert "<h1>Harbour Lights</h1>" in page and "Draft" in page
    scenes = re.findall(r"<tr><td><code>(\w+)</code> <span [^>]*>line (\d+)</span>", page)
    assert scenes == [(knot, str(_line(f"=== {knot} ==="))) for knot in (
        "harbour_dawn", "pier_talk", "cliff_path", "keeper_door", "window_climb", "lamp_room", "ending_light",
        "ending_dark")]
    assert "two friends talking on a wooden pier, gulls overhead" in page
    assert "pier_talk, cliff_path" in page  # what follows the first scene
    assert page.count("not cast") == 2
    assert 'href="/stories/"' in page and "Harbour Lights" in text(bob.get(reverse("portal-stories")))


def test_an_uploaded_inky_json_creates_a_story_without_source(personas):
    bob = signed_in(personas.bob)
    upload = SimpleUploadedFile("harbour.json", ("\ufeff" + COMPILED).encode(), content_type="application/json")
    response = bob.post(reverse("portal-story-new"), {"title": "From Inky", "compiled_file": upload})
    story = Story.objects.get()
    assert response.status_code == 302
    assert (story.title, story.ink_source, story.compiled_json) == ("From Inky", "", COMPILED)


def test_a_broken_story_shows_its_problems_by_line_and_stores_nothing(personas):
    source = SOURCE.replace("# seconds: 2.5", "# seconds: forever")
    compiled = COMPILED.replace('"^seconds: 2.5"', '"^seconds: forever"')
    assert source != SOURCE and compiled != COMPILED
    bob = signed_in(personas.bob)
    events = AuditEvent.objects.count()
    response = bob.post(reverse("portal-story-new"), {"ink_source": source, "compiled_json": compiled})
    assert response.status_code == 400
    page = text(response)
    assert "nothing was saved" in page
    assert _problems(page) == [f"line {_line('# seconds: forever', source)}: scene 'cliff_path': seconds 'forever' "
                               "is not a number above 0 and at most 30"]
    assert source in html.unescape(response.content.decode())  # the author's text is kept in the box
    assert (Story.objects.count(), StoryRole.objects.count(), AuditEvent.objects.count()) == (0, 0, events)


def test_without_a_compiled_story_the_form_asks_for_one(personas):
    bob = signed_in(personas.bob)
    page = text(bob.post(reverse("portal-story-new"), {"ink_source": SOURCE}))
    assert "Compile the source first" in page
    page = text(bob.post(reverse("portal-story-new"), {"compiled_file": SimpleUploadedFile("x.json", b"not json")}))
    assert "This is not a compiled Ink story" in page
    assert Story.objects.count() == 0


def test_an_outsider_gets_404_on_every_story_page(personas):
    story = _create(personas)
    charlie = signed_in(personas.charlie)
    lead = _role(story, "lead")
    assert charlie.get(reverse("portal-story", args=[story.id])).status_code == 404
    cast = reverse("portal-story-role-cast", args=[story.id, lead.id])
    assert charlie.post(cast, {"cast": "viewer"}).status_code == 404
    assert charlie.post(reverse("portal-story-publish", args=[story.id])).status_code == 404
    assert "Harbour Lights" not in text(charlie.get(reverse("portal-stories")))
    alice = signed_in(personas.alice)  # a talent, no studio member
    assert alice.get(reverse("portal-stories")).status_code == 404
    assert 'href="/stories/"' not in text(alice.get("/"))
    assert _role(story, "lead").kind == ""


def test_casting_under_a_license_without_interactive_use_shows_the_gates_reason(personas):
    license = make_license(personas)  # interactive use not granted
    story = _create(personas)
    bob = signed_in(personas.bob)
    page = text(bob.get(reverse("portal-story", args=[story.id])))
    assert "Alice Avery: Night Market (Mara), no interactive use" in page
    response = bob.post(reverse("portal-story-role-cast", args=[story.id, _role(story, "lead").id]),
                        {"cast": str(license.id)})
    assert response.status_code == 409
    assert "Refused by the consent gate: The license does not allow interactive use." in text(response)
    assert _role(story, "lead").kind == ""


def test_publishing_with_an_uncast_role_lists_the_lines_of_its_scenes(personas):
    license = make_license(personas, interactive=True)
    story = _create(personas)
    bob = signed_in(personas.bob)
    cast = bob.post(reverse("portal-story-role-cast", args=[story.id, _role(story, "lead").id]),
                    {"cast": str(license.id)})
    assert cast.status_code == 302
    assert "Alice Avery" in text(bob.get(cast["Location"]))
    response = bob.post(reverse("portal-story-publish", args=[story.id]))
    assert response.status_code == 409
    page = text(response)
    assert "Not published. Cast every role before publishing." in page
    lines = [n for n, line in enumerate(SOURCE.splitlines(), start=1) if line == "# cast: lead, friend"]
    assert _problems(page)[-3:] == [f"line {n}: scene '{knot}': role 'friend' is not cast"
                                    for n, knot in zip(lines, ("pier_talk", "keeper_door", "ending_light"))]
    assert Story.objects.get().status == Story.Status.DRAFT


def test_a_full_cast_publishes_and_the_page_says_who_published_when(personas):
    license = make_license(personas, interactive=True)
    story = _create(personas)
    bob = signed_in(personas.bob)
    assert bob.post(reverse("portal-story-role-cast", args=[story.id, _role(story, "lead").id]),
                    {"cast": str(license.id)}).status_code == 302
    assert bob.post(reverse("portal-story-role-cast", args=[story.id, _role(story, "friend").id]),
                    {"cast": "viewer"}).status_code == 302
    response = bob.post(reverse("portal-story-publish", args=[story.id]))
    assert response.status_code == 302
    story.refresh_from_db()
    assert story.status == Story.Status.PUBLISHED
    page = text(bob.get(response["Location"]))
    assert f"Published: published {moment_text(story.published_at)}" in page and "by bob" in page
    assert "is published" in page
    assert 'action="/stories/' not in page, "a published story is neither recast nor published again"


def test_the_talent_sees_which_stories_cast_her_before_she_revokes(personas):
    license = make_license(personas, interactive=True)
    story = _create(personas)
    services.story_role_cast(role=_role(story, "lead"), license=license, acting_user=personas.bob)
    alice = signed_in(personas.alice)
    page = text(alice.get(reverse("portal-license-revoke", args=[license.id])))
    assert "Interactive stories cast under this license" in page
    assert "“Harbour Lights” (draft, Northlight Studios): lead" in page
    other = make_license(personas, interactive=True, project="Another film")
    assert "Interactive stories" not in text(alice.get(reverse("portal-license-revoke", args=[other.id])))
