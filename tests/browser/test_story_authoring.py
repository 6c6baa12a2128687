"""A producer writes an interactive story in the portal, in Debian's Chromium: the vendored
inkjs compiles the Ink source in the page (no server round trip), a broken source shows the
compiler's errors by line and cannot be saved, and a compiled one is saved and outlined.
The browser compiles exactly what tests/stories/fixtures/compile.js compiles in node."""

from __future__ import annotations


import pytest

from stories.models import Story
from tests.accounts.conftest import with_verified_email
from tests.browser.test_story import SERVER_ERRORS, _shot, _sign_in, browser  # noqa: F401 (a fixture)
from tests.stories import story_file

pytestmark = [pytest.mark.django_db(transaction=True)]

SOURCE = story_file("harbour.ink").read_text(encoding="utf-8")
COMPILED = story_file("harbour.json").read_text(encoding="utf-8")


def test_a_producer_compiles_a_story_in_the_browser_and_sees_its_outline(browser, live_server, personas):  # noqa: F811
    SERVER_ERRORS.clear()
    with_verified_email(personas.bob)
    bob = _sign_in(browser, live_server, personas.bob, None)
    bob.click("a:text-is('Stories')")
    bob.click("a:text-is('New story')")

    broken = SOURCE.replace("-> cliff_path\n\n=== cliff_path", "-> missing\n\n=== cliff_path")
    line = broken.splitlines().index("-> missing") + 1
    bob.fill("textarea[name=ink_source]", broken)
    bob.click("button:text-is('Compile')")
    bob.wait_for_selector(f"#source-problems >> text=line {line}: Divert target not found: '-> missing'")
    assert bob.is_disabled("#story-submit")
    assert bob.input_value("input[name=compiled_json]") == ""
    _shot(bob, "20-producer-story-compiler-error")

    bob.fill("textarea[name=ink_source]", SOURCE)
    bob.click("button:text-is('Compile')")
    bob.wait_for_selector("text=Compiled.")
    assert bob.input_value("input[name=compiled_json]") == COMPILED, "the browser compiles what node compiled"
    assert bob.locator("#source-problems li").count() == 0
    bob.click("button:text-is('Save the draft')")
    bob.wait_for_selector("h1:text-is('Harbour Lights')")
    assert [cell.strip() for cell in bob.locator("#scenes tbody td:first-child code").all_inner_texts()] == [
        "harbour_dawn", "pier_talk", "cliff_path", "keeper_door", "window_climb", "lamp_room", "ending_light",
        "ending_dark"]
    assert bob.locator("#roles >> text=not cast").count() == 2
    _shot(bob, "21-producer-story-outline")
    story = Story.objects.get()
    assert (story.ink_source, story.compiled_json, story.created_by) == (SOURCE, COMPILED, personas.bob)
    assert SERVER_ERRORS == []
