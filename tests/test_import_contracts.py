"""The import contracts (pyproject.toml, checked by `lint-imports` in ./dev test) catch what
they promise to: each case plants one forbidden import in a copy of the source and expects
the contract that forbids it to break."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "audit", "consent", "accounts", "provenance", "generation", "stories", "bespoke")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

PLANTED = {
    "audit/admin.py": ("import bespoke.urls", "The apps form a stack"),
    "core/errors.py": ("import consent.models", "core imports no app"),
    "consent/gate.py": ("import generation.models", "The apps form a stack"),
    "provenance/signing.py": ("import generation.selectors", "The apps form a stack"),
    "generation/selectors.py": ("import consent.desk", "Other apps reach consent only through its public modules"),
    "generation/queue.py": ("import stories.models", "The apps form a stack"),
    "accounts/services.py": ("import stories.selectors", "The apps form a stack"),
    "generation/pipeline/video.py": ("import django.conf", "The diffusion pipeline is plain Python"),
    "provenance/watermark.py": ("import django.conf", "Media marking and reading are plain Python"),
    "consent/policies.py": ("import consent.services", "No cycles between the modules of an app"),
    "stories/ink.py": ("import django.conf", "Ink stories are read and played in plain Python"),
    "consent/faces.py": ("import consent.models", "Face matching is plain Python"),
}


def _source_copy(tmp_path: Path) -> Path:
    tree = tmp_path / "src"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(tree / "pyproject.toml")], cwd=tree,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=120)


def _broken(output: str) -> set[str]:
    return {line.removesuffix(" BROKEN") for line in output.splitlines() if line.endswith(" BROKEN")}


def test_the_source_keeps_every_contract(tmp_path):
    result = _lint(_source_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", sorted(PLANTED))
def test_a_forbidden_import_breaks_its_contract(tmp_path, module):
    tree = _source_copy(tmp_path)
    before = _broken(_lint(tree).stdout)
    statement, contract = PLANTED[module]
    with (tree / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{statement}  # planted\n")
    result = _lint(tree)
    assert result.returncode == 1
    assert [name for name in _broken(result.stdout) - before if name.startswith(contract)], result.stdout
