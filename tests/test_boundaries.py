"""Dependencies point one way (DESIGN invariant 1): checked on the source, not by convention."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "consent": ("generation", "provenance"),
    "audit": ("consent", "generation", "provenance"),
    "generation/pipeline": ("django", "consent", "audit", "provenance", "bespoke", "generation.models",
                            "generation.services"),
    "provenance/labels.py": ("django",),
    "provenance/manifest.py": ("django",),
    "provenance/pki.py": ("django",),
    "provenance/c2pa_io.py": ("django",),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("place", sorted(FORBIDDEN))
def test_modules_do_not_import_what_they_must_not_depend_on(place):
    target = ROOT / place
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    assert files
    offending = [f"{path.relative_to(ROOT)} imports {name}" for path in files for name in sorted(_imports(path))
                 if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[place])]
    assert not offending
