"""Story files for the tests: the demo story Bespoke ships (stories/demo/) and the broken
ones (fixtures/), each an Ink source beside the JSON the vendored inkjs compiled from it."""

from __future__ import annotations

from pathlib import Path

import stories

DEMO = Path(stories.__file__).resolve().parent / "demo"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def story_file(name: str) -> Path:
    """``harbour.ink``, ``broken_loop.json``...: the demo story's files, else a fixture's."""
    return (DEMO if (DEMO / name).exists() else FIXTURES) / name
