"""Ink stories as interactive films: read, check and play compiled Ink JSON (plain Python, no Django).

A producer writes the story in Ink and the portal compiles it in the browser with the vendored
inkjs (``stories/static/stories/vendor/inkjs/ink-full.js``); this module only ever sees the compiled JSON, run by
the Blade Ink runtime (``bink``). It cannot compile.

A SCENE is a knot whose top carries scene tags::

    === pier_talk ===
    # prompt: two friends talking on a wooden pier, gulls overhead
    # cast: lead, friend
    # seconds: 3
    "The lamp has been dark for three nights," your friend says.
    -> cliff_path

``prompt`` is what is rendered, ``cast`` names the roles in it (cast to a talent or the viewer by
the app, not here), ``seconds`` its length (default 2). A knot with none of these tags is plain
Ink (a helper, a function) and is played through. The story's global tags give its ``title``.

``# continuity: on`` (or ``off``) asks that a scene continue from the last frame of the scene
played before it (stories.play decides when it may); as a global tag it is the story's default,
as a scene's tag it overrides that default for the scene.

:func:`story_outline` explores every path (bounded, see :data:`MAX_STATES`) and lists the scenes,
the roles, where the story starts and ends, and the problems, each naming the source line when the
Ink source is given. :func:`play_start` / :func:`play_choose` / :func:`play_continue` are a
stateless player: each call takes the saved state and returns the next scene and the new state.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import deque
from dataclasses import dataclass, field

from bink.story import Story

__all__ = [
    "DEFAULT_SECONDS",
    "MAX_LINES_WITHOUT_CHOICE",
    "MAX_SECONDS",
    "MAX_STATES",
    "InkError",
    "PlayError",
    "Problem",
    "Scene",
    "Step",
    "StoryOutline",
    "play_choose",
    "play_continue",
    "play_start",
    "problems_for_cast",
    "story_outline",
]

#: A scene's length when it has no ``# seconds:`` tag; a tag must give a number in (0, MAX_SECONDS].
DEFAULT_SECONDS = 2.0
MAX_SECONDS = 30.0
#: Exploration bounds: choice points (distinct saved states) explored per outline, lines continued
#: between two choices, and the wall-clock budget of ONE line (a divert loop with no text never
#: yields a line: bink's continue_async stops it after this many milliseconds).
MAX_STATES = 2000
MAX_LINES_WITHOUT_CHOICE = 500
LINE_BUDGET_MS = 250.0
#: The wall-clock budget of one whole outline: a story whose lines are slow to compute cannot make
#: its check (run when it is created and published) cost the server minutes.
OUTLINE_SECONDS = 10.0
#: Visit counts above this are treated as equal when deciding whether a state was seen before,
#: so that a hub the reader may return to any number of times is explored a bounded number of times.
_VISIT_CAP = 3

SCENE_TAGS = ("prompt", "cast", "seconds")
CONTINUITY_TAG = "continuity"
_SWITCH = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}


class InkError(ValueError):
    """The text is not a compiled Ink story that the runtime can load."""


class PlayError(ValueError):
    """A play step cannot be taken: a bad saved state, a choice that is not offered, a runtime error."""


@dataclass(frozen=True)
class Scene:
    knot: str
    prompt: str
    cast: tuple[str, ...]
    seconds: float
    line: int | None = None  # the ``=== knot ===`` line in the source, when the source is known
    continues: bool = False  # asks to continue from the last frame of the scene played before it


@dataclass(frozen=True)
class Problem:
    line: int | None  # 1-based source line; None without source (the message names the knot)
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class StoryOutline:
    title: str
    roles: tuple[str, ...]
    scenes: dict[str, Scene]  # in declaration order
    start: str | None
    endings: tuple[str, ...]
    problems: tuple[Problem, ...]
    #: scene -> the scenes that can come next (reached before or after a choice), in discovery order
    next_scenes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: True when exploration stopped at a bound (MAX_STATES) before every path was played
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Step:
    """One scene of a playthrough: its text, what the reader may choose next, and the state to resume.

    After a step: ``ended`` -> the film is over; ``choices`` -> call :func:`play_choose`;
    neither -> the next scene follows without a choice, call :func:`play_continue`.
    """

    scene: Scene | None
    text: tuple[str, ...]
    choices: tuple[str, ...]
    state: str
    ended: bool


# --- Loading and tags ---------------------------------------------------------------------------------


def _parse_compiled(compiled_json: str) -> dict:
    if not isinstance(compiled_json, str):
        raise InkError("compiled Ink must be a JSON string")
    try:
        data = json.loads(compiled_json.lstrip("\ufeff"))
    except ValueError as exc:
        raise InkError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or "inkVersion" not in data or not isinstance(data.get("root"), list):
        raise InkError("not a compiled Ink story (no inkVersion and root)")
    return data


def _load(compiled_json: str) -> Story:
    try:
        return Story(compiled_json.lstrip("\ufeff"))
    except RuntimeError as exc:
        raise InkError(f"the Ink runtime cannot load this story: {exc}") from None


def _knot_names(data: dict) -> list[str]:
    """The knots of a compiled story: the named content of the root container, in declaration order."""
    root = data["root"]
    named = root[-1] if root and isinstance(root[-1], dict) else {}
    return [name for name, value in named.items()
            if not name.startswith("#") and name != "global decl" and isinstance(value, list)]


def _tag_map(tags) -> dict[str, str]:
    """``['prompt: a harbour', 'cast: lead']`` -> ``{'prompt': 'a harbour', 'cast': 'lead'}`` (first wins,
    keys lower-cased; a tag without a colon maps to '')."""
    out: dict[str, str] = {}
    for tag in tags:
        key, _, value = str(tag).partition(":")
        out.setdefault(key.strip().lower(), value.strip())
    return out


def _split_cast(value: str) -> tuple[str, ...]:
    roles: list[str] = []
    for role in value.split(","):
        role = role.strip()
        if role and role not in roles:
            roles.append(role)
    return tuple(roles)


def _parse_seconds(value: str | None) -> float | None:
    """The seconds of a tag value, or None when it is not a number in (0, MAX_SECONDS]."""
    if value is None:
        return DEFAULT_SECONDS
    try:
        seconds = float(value.removesuffix("s").strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        return None
    return seconds


def _parse_switch(value: str | None, default: bool) -> bool | None:
    """``on``/``off`` (or yes/no, true/false) of a tag value; ``default`` without the tag; None when neither."""
    if value is None:
        return default
    return _SWITCH.get(value.strip().lower())


# --- Source lines -------------------------------------------------------------------------------------

# `=== knot ===`, `== knot`, `=== function name(x) ===`; a single `=` is a stitch, not a knot.
_KNOT_LINE = re.compile(r"^\s*={2,}\s*(?:function\s+)?([^\W\d]\w*)")
_TAG_KEY = re.compile(r"#\s*([A-Za-z_]\w*)\s*:")


class _SourceMap:
    """Where each knot and each of its ``# key:`` tags is declared in the Ink source (1-based lines)."""

    def __init__(self, source: str | None):
        self.known = source is not None
        self.knots: dict[str, int] = {}
        self.tags: dict[tuple[str, str], int] = {}
        if source is None:
            return
        current: str | None = None
        in_comment = False
        for number, raw in enumerate(source.lstrip("\ufeff").splitlines(), start=1):
            line = raw
            if in_comment:
                if "*/" not in line:
                    continue
                line, in_comment = line.split("*/", 1)[1], False
            if "/*" in line and "*/" not in line.split("/*", 1)[1]:
                line, in_comment = line.split("/*", 1)[0], True
            line = line.split("//", 1)[0]
            match = _KNOT_LINE.match(line)
            if match:
                current = match.group(1)
                self.knots.setdefault(current, number)
                continue
            if current is None:
                continue
            for key in _TAG_KEY.findall(line):
                self.tags.setdefault((current, key.lower()), number)

    def knot(self, knot: str) -> int | None:
        return self.knots.get(knot)

    def tag(self, knot: str, key: str) -> int | None:
        return self.tags.get((knot, key)) or self.knots.get(knot)


# --- Running the story --------------------------------------------------------------------------------


class _Loop(Exception):
    """The story runs on without a choice: a scene came round again, or the line bound was reached."""

    def __init__(self, message: str, knot: str | None = None, entered: list[str] | None = None):
        super().__init__(message)
        self.message, self.knot, self.entered = message, knot, entered or []


class _OutOfTime(Exception):
    """The outline's OUTLINE_SECONDS ran out."""


class _Runner:
    """Continues a bink Story line by line and says which scenes each line entered.

    A scene is "entered" when its knot's visit count rises during the line (the compiler's
    countAllVisits gives every knot a count), or when the line carries the knot's own tags in order
    (a knot compiled without a count; a knot that diverts back to its own top, which Ink does not
    count as a visit). Several scenes entered by one line are ordered by where their tags appear
    among the line's tags.
    """

    def __init__(self, compiled_json: str, scenes: dict[str, Scene], knot_tags: dict[str, list[str]],
                 counted: set[str]):
        self.compiled_json = compiled_json
        self.scenes = scenes
        self.knot_tags = knot_tags
        self.deadline: float | None = None
        self.counted = [k for k in scenes if k in counted]
        self.errors: list[str] = []
        self.story = self._fresh()

    def _fresh(self) -> Story:
        story = _load(self.compiled_json)
        story.set_error_handler(lambda message, is_error: self.errors.append(message) if is_error else None)
        return story

    def reset(self) -> None:
        """A new Story: after an unfinished continue_async the old one is left mid-line."""
        self.story = self._fresh()

    def counts(self) -> list[int]:
        return [self.story.get_visit_count_at_path_string(k) for k in self.counted]

    def line(self) -> tuple[str, list[str], list[str]]:
        """Continue one line: (text, its tags, the scenes it entered). Raises _Loop when the line does
        not finish within LINE_BUDGET_MS (a divert loop with no text), RuntimeError on an Ink error."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _OutOfTime
        before = self.counts()
        if not self.story.continue_async(LINE_BUDGET_MS):
            entered = [k for k, b, a in zip(self.counted, before, self.counts()) if a > b]
            self.reset()
            path = " -> ".join(entered[:4] + (["..."] if len(entered) > 4 else []))
            raise _Loop("the story runs round without a line of text or a choice"
                        + (f" ({path})" if path else ""), entered[0] if entered else None, entered)
        text = self.story.get_current_text()
        tags = list(self.story.get_current_tags())
        after = self.counts()
        entered = [k for k, b, a in zip(self.counted, before, after) if a > b]
        # Ink does not count a divert from inside a knot back to its own top as a visit: the knot's
        # tags, played again, say it was entered (unless a knot with the same tags was just counted).
        entered += [k for k, own in self.knot_tags.items()
                    if own and k not in entered and _contains(tags, own)
                    and not any(self.knot_tags[e] == own for e in entered)]
        if len(entered) > 1:
            entered.sort(key=lambda k: _position(tags, self.knot_tags[k]))
        if self.errors:
            message, self.errors = self.errors[0], []
            raise RuntimeError(message)
        return text, tags, entered


def _contains(tags: list[str], sub: list[str]) -> bool:
    return _position(tags, sub) < len(tags)


def _position(tags: list[str], sub: list[str]) -> int:
    n = len(sub)
    for i in range(len(tags) - n + 1):
        if tags[i:i + n] == sub:
            return i
    return len(tags)


def _state_key(state_json: str) -> str:
    """A saved state without what does not change the rest of the story (output, turn numbers, seed),
    with visit counts capped at _VISIT_CAP."""
    state = json.loads(state_json)
    for flow in state.get("flows", {}).values():
        flow.pop("outputStream", None)
        _renumber_threads(flow)
    for volatile in ("turnIdx", "turnIndices", "storySeed", "previousRandom"):
        state.pop(volatile, None)
    state["visitCounts"] = {k: min(v, _VISIT_CAP) for k, v in state.get("visitCounts", {}).items()}
    return json.dumps(state, sort_keys=True)


def _renumber_threads(flow: dict) -> None:
    """Thread numbers only ever grow (a story that comes back to a choice point has new ones): number
    them 0, 1, 2... in order, and drop the counter."""
    callstack = flow.get("callstack", {})
    callstack.pop("threadCounter", None)
    threads = callstack.get("threads", [])
    choice_threads = flow.get("choiceThreads", {})
    choices = flow.get("currentChoices", [])
    numbers = sorted({t.get("threadIndex", 0) for t in threads} | {int(k) for k in choice_threads}
                     | {c.get("originalThreadIndex", 0) for c in choices})
    new = {n: i for i, n in enumerate(numbers)}
    for thread in threads:
        thread["threadIndex"] = new.get(thread.get("threadIndex", 0))
    for thread in choice_threads.values():
        thread["threadIndex"] = new.get(thread.get("threadIndex", 0))
    if choice_threads:
        flow["choiceThreads"] = {str(new[int(k)]): v for k, v in choice_threads.items()}
    for choice in choices:
        choice["originalThreadIndex"] = new.get(choice.get("originalThreadIndex", 0))


@dataclass
class _Segment:
    """What happened between two choice points."""

    scenes: list[str]
    lines: list[str]
    ended: bool
    choices: tuple[str, ...] = ()


def _play_segment(runner: _Runner, on_scene, merged: dict[str, str] | None = None) -> _Segment:
    """Continue until choices or the end; call ``on_scene(knot)`` for every scene entered (may raise _Loop).
    A scene that starts on the same line as the next one (it has no text of its own) goes in ``merged``."""
    seen: list[str] = []
    lines: list[str] = []
    while runner.story.can_continue():
        if len(lines) >= MAX_LINES_WITHOUT_CHOICE:
            raise _Loop(f"more than {MAX_LINES_WITHOUT_CHOICE} lines without a choice")
        text, _tags, entered = runner.line()
        lines.append(text)
        if merged is not None and len(entered) > 1:
            for knot, following in zip(entered, entered[1:]):
                merged.setdefault(knot, following)
        for knot in entered:
            if knot in seen:
                path = " -> ".join(seen[seen.index(knot):] + [knot])
                raise _Loop(f"scene '{knot}' comes round again without a choice ({path})", knot)
            seen.append(knot)
            on_scene(knot)
    choices = tuple(runner.story.get_current_choices())
    return _Segment(scenes=seen, lines=lines, ended=not choices, choices=choices)


# --- The outline --------------------------------------------------------------------------------------


def _read_scenes(story: Story, data: dict, where: _SourceMap) -> tuple[dict[str, Scene], dict[str, list[str]],
                                                                      list[Problem]]:
    scenes: dict[str, Scene] = {}
    knot_tags: dict[str, list[str]] = {}
    problems: list[Problem] = []
    story_continuity = _tag_map(story.get_global_tags()).get(CONTINUITY_TAG)
    continues_by_default = _parse_switch(story_continuity, False)
    if continues_by_default is None:
        problems.append(Problem(None, f"the story's continuity {story_continuity!r} is neither on nor off"))
    for knot in _knot_names(data):
        try:
            tags = list(story.get_tags_for_content_at_path(knot))
        except RuntimeError:
            continue
        values = _tag_map(tags)
        if not any(key in values for key in SCENE_TAGS):
            continue
        prompt = values.get("prompt")
        cast = _split_cast(values.get("cast", ""))
        seconds = _parse_seconds(values.get("seconds"))
        continues = _parse_switch(values.get(CONTINUITY_TAG), bool(continues_by_default))
        if continues is None:
            problems.append(Problem(where.tag(knot, CONTINUITY_TAG), f"scene '{knot}': continuity "
                                    f"{values[CONTINUITY_TAG]!r} is neither on nor off"))
        if prompt is None:
            problems.append(Problem(where.knot(knot), f"scene '{knot}' has no '# prompt:' tag"))
        elif not prompt:
            problems.append(Problem(where.tag(knot, "prompt"), f"scene '{knot}' has an empty prompt"))
        if seconds is None:
            problems.append(Problem(where.tag(knot, "seconds"),
                                    f"scene '{knot}': seconds {values['seconds']!r} is not a number "
                                    f"above 0 and at most {MAX_SECONDS:g}"))
        if not cast:
            problems.append(Problem(where.tag(knot, "cast"), f"scene '{knot}' has no cast (add '# cast: lead')"))
        scenes[knot] = Scene(knot=knot, prompt=prompt or "", cast=cast, seconds=seconds or 0.0,
                             line=where.knot(knot), continues=bool(continues))
        knot_tags[knot] = tags
    return scenes, knot_tags, problems


def _counted_knots(data: dict) -> set[str]:
    """Knots whose visits the runtime counts (container flag bit 1; every knot with countAllVisits)."""
    root = data["root"]
    named = root[-1] if root and isinstance(root[-1], dict) else {}
    counted = set()
    for name, value in named.items():
        if isinstance(value, list) and value and isinstance(value[-1], dict) and value[-1].get("#f", 0) & 1:
            counted.add(name)
    return counted


def story_outline(compiled_json: str, *, source: str | None = None) -> StoryOutline:
    """Read and check a compiled Ink story by playing every path (bounded by MAX_STATES choice points
    and MAX_LINES_WITHOUT_CHOICE lines between choices). Raises InkError for text that is not a
    compiled Ink story; every other finding is a Problem, with its source line when ``source`` is given."""
    data = _parse_compiled(compiled_json)
    story = _load(compiled_json)
    where = _SourceMap(source)
    title = _tag_map(story.get_global_tags()).get("title", "")
    scenes, knot_tags, problems = _read_scenes(story, data, where)
    if not scenes:
        problems.append(Problem(None, "the story has no scene: give a knot a '# prompt:', '# cast:' "
                                      "and '# seconds:' tag"))
        return StoryOutline(title=title, roles=(), scenes={}, start=None, endings=(), problems=tuple(problems))

    runner = _Runner(compiled_json, scenes, knot_tags, _counted_knots(data))
    reached: list[str] = []
    follows: dict[str, list[str]] = {}
    endings: set[str] = set()
    loops: dict[str, str] = {}
    runtime: dict[str, Problem] = {}
    merged: dict[str, str] = {}
    # A node: (saved state, the last scene played before it, the choice to take or None at the start).
    queue: deque[tuple[str, str | None, int | None]] = deque([(runner.story.save_state(), None, None)])
    seen_states: set[str] = set()
    explored = 0
    truncated = out_of_time = False
    runner.deadline = time.monotonic() + OUTLINE_SECONDS
    while queue:
        if time.monotonic() > runner.deadline:
            out_of_time = True
            break
        state, last, choice = queue.popleft()
        current = [last]

        def on_scene(knot: str) -> None:
            if knot not in reached:
                reached.append(knot)
            if current[0] is not None and knot not in follows.setdefault(current[0], []):
                follows[current[0]].append(knot)
            current[0] = knot

        try:
            runner.story.load_state(state)
            if choice is not None:
                runner.story.choose_choice_index(choice)
            segment = _play_segment(runner, on_scene, merged)
        except _OutOfTime:
            out_of_time = True
            break
        except _Loop as loop:
            for knot in loop.entered:
                on_scene(knot)
            knot = loop.knot or current[0]
            loops.setdefault(knot or "", loop.message)
            runner.reset()
            continue
        except RuntimeError as exc:
            message = f"Ink runtime error after scene '{current[0]}': {exc}" if current[0] else \
                f"Ink runtime error before the first scene: {exc}"
            runtime.setdefault(str(exc), Problem(where.knot(current[0]) if current[0] else None, message))
            runner.reset()
            continue
        if segment.ended:
            if current[0] is not None:
                endings.add(current[0])
            continue
        saved = runner.story.save_state()
        key = _state_key(saved)
        if key in seen_states:
            continue
        if explored >= MAX_STATES:
            truncated = True
            break
        seen_states.add(key)
        explored += 1
        for index in range(len(segment.choices)):
            queue.append((saved, current[0], index))

    for knot, message in loops.items():
        problems.append(Problem(where.knot(knot) if knot else None,
                                f"loop without a choice: {message}" if knot else
                                f"loop without a choice before any scene: {message}"))
    for knot, following in merged.items():
        problems.append(Problem(where.knot(knot), f"scene '{knot}' has no line of text: Ink runs it into scene "
                                                  f"'{following}' (give it a line, even a short one)"))
    if truncated:
        problems.append(Problem(None, f"the story has more than {MAX_STATES} choice points: only the first "
                                      f"{MAX_STATES} were explored"))
    if out_of_time:
        problems.append(Problem(None, f"playing every path took longer than {OUTLINE_SECONDS:g} s: "
                                      "make the story's lines simpler to compute"))
    for knot, scene in scenes.items():
        if knot not in reached:
            error = _first_line_error(compiled_json, knot) if runtime else None
            if error in runtime:
                # The path did reach the scene, and failed on its first line: say so, at the scene.
                runtime[error] = Problem(scene.line, f"Ink runtime error in scene '{knot}': {error}")
                continue
            kind = "ending" if _ends_without_choice(compiled_json, knot) else "scene"
            why = " (a runtime error stopped a path before it)" if runtime else ""
            problems.append(Problem(scene.line, f"{kind} '{knot}' is never reached{why}"))
    problems.extend(runtime.values())

    roles = tuple(sorted({role for scene in scenes.values() for role in scene.cast}))
    return StoryOutline(
        title=title,
        roles=roles,
        scenes=scenes,
        start=reached[0] if reached else None,
        endings=tuple(k for k in scenes if k in endings),
        problems=tuple(problems),
        next_scenes={k: tuple(v) for k, v in follows.items()},
        truncated=truncated or out_of_time,
    )


def _first_line_error(compiled_json: str, knot: str) -> str | None:
    """The runtime error raised by the first line of ``knot``, if any."""
    story = _load(compiled_json)
    try:
        story.choose_path_string(knot)
        if story.can_continue():
            story.continue_async(LINE_BUDGET_MS)
    except RuntimeError as exc:
        return str(exc)
    return None


def _ends_without_choice(compiled_json: str, knot: str) -> bool:
    """Whether playing from ``knot`` reaches the end without a choice (so an unreached knot is an ending)."""
    story = _load(compiled_json)
    try:
        story.choose_path_string(knot)
        for _ in range(MAX_LINES_WITHOUT_CHOICE):
            if not story.can_continue():
                return not story.get_current_choices()
            if not story.continue_async(LINE_BUDGET_MS):
                return False
    except RuntimeError:
        return False
    return False


def problems_for_cast(outline: StoryOutline, cast_roles: set[str], source: str | None = None) -> list[Problem]:
    """One problem per scene that names a role not in ``cast_roles``, at the scene's ``# cast:`` line when
    the source is given."""
    where = _SourceMap(source)
    problems = []
    for knot, scene in outline.scenes.items():
        for role in scene.cast:
            if role not in cast_roles:
                problems.append(Problem(where.tag(knot, "cast") if source is not None else None,
                                        f"scene '{knot}': role '{role}' is not cast"))
    return problems


# --- The player ---------------------------------------------------------------------------------------


def _player(compiled_json: str) -> _Runner:
    data = _parse_compiled(compiled_json)
    story = _load(compiled_json)
    scenes, knot_tags, _problems = _read_scenes(story, data, _SourceMap(None))
    return _Runner(compiled_json, scenes, knot_tags, _counted_knots(data))


def _step(runner: _Runner) -> Step:
    """Continue to the next scene boundary: the lines of (at most) one scene, stopping BEFORE the line
    that starts another scene (that line's state is returned, so the next step begins with it)."""
    story = runner.story
    scene: str | None = None
    text: list[str] = []
    state = story.save_state()
    try:
        while story.can_continue():
            if len(text) >= MAX_LINES_WITHOUT_CHOICE:
                raise PlayError(f"more than {MAX_LINES_WITHOUT_CHOICE} lines without a choice")
            line, _tags, entered = runner.line()
            if entered and scene is not None:
                return Step(scene=runner.scenes[scene], text=tuple(text), choices=(), state=state, ended=False)
            if entered:
                scene = entered[-1]
            if line.strip():
                text.append(line.strip())
            state = story.save_state()
    except _Loop as loop:
        raise PlayError(f"loop without a choice: {loop.message}") from None
    except RuntimeError as exc:
        raise PlayError(f"Ink runtime error: {exc}") from None
    choices = tuple(story.get_current_choices())
    return Step(scene=runner.scenes[scene] if scene else None, text=tuple(text), choices=choices,
                state=story.save_state(), ended=not choices)


def _resume(compiled_json: str, state_json: str) -> _Runner:
    runner = _player(compiled_json)
    try:
        runner.story.load_state(state_json)
    except (RuntimeError, AttributeError, TypeError) as exc:
        raise PlayError(f"not a saved state of this story: {exc}") from None
    return runner


def play_start(compiled_json: str) -> Step:
    """The first scene of a playthrough (with any lines before it)."""
    return _step(_player(compiled_json))


def play_choose(compiled_json: str, state_json: str, index: int) -> Step:
    """Take choice ``index`` (0-based, of the previous step's ``choices``) and play the next scene."""
    runner = _resume(compiled_json, state_json)
    offered = len(runner.story.get_current_choices())
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < offered:
        raise PlayError(f"choice {index!r} is not offered ({offered} choices)")
    try:
        runner.story.choose_choice_index(index)
    except RuntimeError as exc:
        raise PlayError(f"Ink runtime error: {exc}") from None
    return _step(runner)


def play_continue(compiled_json: str, state_json: str) -> Step:
    """Play the next scene after a step that ended neither in choices nor in the end of the story."""
    runner = _resume(compiled_json, state_json)
    if not runner.story.can_continue():
        raise PlayError("the story waits for a choice or has ended: nothing to continue")
    return _step(runner)
