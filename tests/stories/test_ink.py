"""stories.ink: reading, checking and playing compiled Ink stories (plain Python, no database).

The fixtures are Ink sources (``fixtures/*.ink``) next to their JSON compiled by the vendored inkjs
(``fixtures/compile.js``); the first test recompiles them so the two cannot drift apart.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from stories import ink
from stories.ink import (
    InkError,
    PlayError,
    Problem,
    Scene,
    play_choose,
    play_continue,
    play_start,
    problems_for_cast,
    story_outline,
)
from tests.stories import DEMO, FIXTURES, story_file

SOURCES = sorted([*DEMO.glob("*.ink"), *FIXTURES.glob("*.ink")])
NODE = shutil.which("node")


def compiled(name: str) -> str:
    return story_file(f"{name}.json").read_text(encoding="utf-8")


def source(name: str) -> str:
    return story_file(f"{name}.ink").read_text(encoding="utf-8")


# --- The fixtures are what the vendored compiler makes of their sources -----------------------------


@pytest.mark.parametrize("ink_file", SOURCES, ids=lambda p: p.stem)
def test_each_fixture_is_its_source_compiled_by_the_vendored_inkjs(ink_file):
    if NODE is None:
        pytest.skip("node is not on PATH: cannot recompile the Ink fixtures to check them against their JSON")
    result = subprocess.run([NODE, str(FIXTURES / "compile.js"), str(ink_file)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ink_file.with_suffix(".json")).read_text(encoding="utf-8"), (
        f"{ink_file.name} changed: run `node tests/stories/fixtures/compile.js {ink_file} "
        f"{ink_file.with_suffix('.json')}`")


def test_every_fixture_has_its_compiled_json():
    assert SOURCES
    assert {p.stem for p in SOURCES} == {p.stem for p in [*DEMO.glob("*.json"), *FIXTURES.glob("*.json")]}


# --- The outline of a good story -------------------------------------------------------------------


def test_the_outline_of_a_good_story():
    outline = story_outline(compiled("harbour"), source=source("harbour"))

    assert outline.problems == ()
    assert outline.ok
    assert outline.title == "Harbour Lights"
    assert outline.roles == ("friend", "lead")
    assert list(outline.scenes) == ["harbour_dawn", "pier_talk", "cliff_path", "keeper_door", "window_climb",
                                    "lamp_room", "ending_light", "ending_dark"]
    assert outline.scenes["pier_talk"] == Scene(knot="pier_talk",
                                                prompt="two friends talking on a wooden pier, gulls overhead",
                                                cast=("lead", "friend"), seconds=3.0, line=18)
    assert outline.scenes["cliff_path"].seconds == 2.5
    assert outline.start == "harbour_dawn"
    assert outline.endings == ("ending_light", "ending_dark")
    assert outline.next_scenes == {
        "harbour_dawn": ("pier_talk", "cliff_path"),
        "pier_talk": ("cliff_path",),
        "cliff_path": ("keeper_door", "window_climb"),
        "keeper_door": ("lamp_room",),
        "window_climb": ("lamp_room",),
        "lamp_room": ("ending_light", "ending_dark"),
    }
    assert not outline.truncated


def test_without_source_scenes_have_no_line():
    outline = story_outline(compiled("harbour"))
    assert outline.problems == ()
    assert {scene.line for scene in outline.scenes.values()} == {None}


def test_a_byte_order_mark_is_ignored():
    assert story_outline("\ufeff" + compiled("harbour")).start == "harbour_dawn"


def test_a_hub_the_reader_returns_to_is_explored_to_the_end():
    """`== knot` declarations, a sticky choice back to the same knot (which Ink does not count as a
    visit): exploration stops, finds the ending, and reports no loop."""
    outline = story_outline(compiled("hub"), source=source("hub"))
    assert outline.problems == ()
    assert [scene.line for scene in outline.scenes.values()] == [4, 16, 23]
    assert outline.endings == ("gate",)
    assert outline.next_scenes["square"] == ("stalls", "gate", "square")
    assert not outline.truncated


def test_exploration_stops_at_its_bound(monkeypatch):
    monkeypatch.setattr(ink, "MAX_STATES", 1)
    outline = story_outline(compiled("harbour"))
    assert outline.truncated
    assert any("only the first 1 were explored" in p.message for p in outline.problems)


# --- Problems, at their source line ----------------------------------------------------------------

BROKEN = [
    ("broken_no_prompt", [(11, "scene 'market' has no '# prompt:' tag")]),
    ("broken_unreachable", [(21, "ending 'secret_ending' is never reached")]),
    ("broken_loop", [(12, "loop without a choice: scene 'carriage' comes round again without a choice "
                          "(carriage -> corridor -> carriage)")]),
    ("broken_silent_loop", [(4, "loop without a choice: the story runs round without a line of text or a choice "
                                "(ping -> pong)")]),
    ("broken_tags", [(5, "scene 'dunes' has an empty prompt"),
                     (14, "scene 'beach': seconds 'forever' is not a number above 0 and at most 30"),
                     (21, "scene 'cave': seconds '45' is not a number above 0 and at most 30"),
                     (25, "scene 'cove' has no cast (add '# cast: lead')")]),
    ("broken_merged", [(4, "scene 'skyline' has no line of text: Ink runs it into scene 'rooftop' "
                           "(give it a line, even a short one)")]),
    ("broken_runtime", [(5, "Ink runtime error in scene 'porch': Invalid story state: ERROR: Missing function "
                            "binding for external: 'weather'  (ink fallbacks disabled)")]),
    ("broken_no_scene", [(None, "the story has no scene: give a knot a '# prompt:', '# cast:' and "
                                "'# seconds:' tag")]),
]


@pytest.mark.parametrize(("name", "expected"), BROKEN, ids=[name for name, _ in BROKEN])
def test_each_problem_names_its_source_line(name, expected):
    outline = story_outline(compiled(name), source=source(name))
    assert [(p.line, p.message) for p in outline.problems] == expected
    assert not outline.ok


@pytest.mark.parametrize(("name", "expected"), BROKEN, ids=[name for name, _ in BROKEN])
def test_without_source_the_problem_names_the_knot(name, expected):
    outline = story_outline(compiled(name))
    assert outline.problems == tuple(Problem(None, message) for _line, message in expected)


def test_a_problem_reads_as_its_line_and_message():
    assert str(Problem(11, "scene 'market' has no '# prompt:' tag")) == "line 11: scene 'market' has no '# prompt:' tag"
    assert str(Problem(None, "no scene")) == "no scene"


def test_a_role_that_is_not_cast():
    outline = story_outline(compiled("broken_uncast"), source=source("broken_uncast"))
    assert outline.problems == ()
    assert outline.roles == ("lead", "stranger")
    assert problems_for_cast(outline, {"lead", "friend"}, source("broken_uncast")) == [
        Problem(13, "scene 'boat': role 'stranger' is not cast")]
    assert problems_for_cast(outline, {"lead", "friend"}) == [
        Problem(None, "scene 'boat': role 'stranger' is not cast")]
    assert problems_for_cast(outline, {"lead", "stranger"}) == []


@pytest.mark.parametrize("text", [
    "", "not json", "{not json", "[]", "{}", '{"root": []}', '{"inkVersion": 21}',
    json.dumps({"inkVersion": 21, "root": "x"}),
    compiled("harbour").replace('"inkVersion":21', '"inkVersion":99'),
    compiled("harbour")[:200],
])
def test_text_that_is_not_a_compiled_story_is_refused(text):
    with pytest.raises(InkError):
        story_outline(text)
    with pytest.raises(InkError):
        play_start(text)


# --- Playing ---------------------------------------------------------------------------------------


def play(name: str, picks: list[int]) -> list[str]:
    """Play from the start, taking ``picks`` at the choice points; the scenes shown, in order."""
    story = compiled(name)
    step = play_start(story)
    shown = [step.scene.knot]
    picks = list(picks)
    while not step.ended:
        step = play_choose(story, step.state, picks.pop(0)) if step.choices else play_continue(story, step.state)
        shown.append(step.scene.knot)
    assert picks == []
    return shown


def test_a_playthrough_from_start_through_choices_to_an_end():
    story = compiled("harbour")
    step = play_start(story)
    assert step.scene.knot == "harbour_dawn"
    assert step.text == ("The sun rises over the harbour.",)
    assert step.choices == ("Wave to your friend", "Walk to the lighthouse alone")
    assert not step.ended

    step = play_choose(story, step.state, 0)
    assert step.scene.knot == "pier_talk"
    assert step.scene.cast == ("lead", "friend")
    assert step.choices == () and not step.ended  # the next scene follows without a choice

    step = play_continue(story, step.state)
    assert step.scene.knot == "cliff_path"
    assert step.text == ("The path climbs steeply. Your friend follows close behind.",)

    step = play_choose(story, step.state, 1)
    assert step.scene.knot == "window_climb"
    step = play_continue(story, step.state)
    assert step.scene.knot == "lamp_room"
    step = play_choose(story, step.state, 0)
    assert step.scene.knot == "ending_light"
    assert step.ended and step.choices == ()


@pytest.mark.parametrize(("picks", "scenes"), [
    ([0, 0, 0], ["harbour_dawn", "pier_talk", "cliff_path", "keeper_door", "lamp_room", "ending_light"]),
    ([1, 1, 1], ["harbour_dawn", "cliff_path", "window_climb", "lamp_room", "ending_dark"]),
])
def test_choices_branch(picks, scenes):
    assert play("harbour", picks) == scenes


def test_a_hub_can_be_played_round_and_out():
    assert play("hub", [0, 0, 1]) == ["square", "stalls", "square", "square", "gate"]


def test_the_state_round_trips():
    story = compiled("harbour")
    first = play_start(story)
    json.loads(first.state)  # a JSON string the app can store
    # Stateless: the same state gives the same step, however often and in whatever order it is used.
    a = play_choose(story, first.state, 1)
    b = play_choose(story, first.state, 0)
    again = play_choose(story, first.state, 1)
    assert (a.scene.knot, b.scene.knot, again.scene.knot) == ("cliff_path", "pier_talk", "cliff_path")
    assert (again.text, again.choices, again.ended) == (a.text, a.choices, a.ended)
    # Ink variables travel in the state: meeting the friend changes a later line.
    met = play_continue(story, b.state)
    assert met.text == ("The path climbs steeply. Your friend follows close behind.",)
    assert a.text == ("The path climbs steeply.",)


def test_a_bad_state_or_choice_is_refused():
    story = compiled("harbour")
    first = play_start(story)
    with pytest.raises(PlayError):
        play_choose(story, first.state, 2)
    with pytest.raises(PlayError):
        play_choose(story, first.state, -1)
    with pytest.raises(PlayError):
        play_continue(story, first.state)  # waits for a choice
    with pytest.raises(PlayError):
        play_choose(story, "not a state", 0)
    with pytest.raises(PlayError):
        play_choose(story, '{"x": 1}', 0)


def test_playing_into_a_loop_without_a_choice_stops():
    with pytest.raises(PlayError, match="loop without a choice"):
        play_start(compiled("broken_silent_loop"))
