"""Step-up has one rule (core.stepup.require_step_up) and two doors to it: `step_up_api` for an
API action and `@step_up_required` for a portal view. No view reaches the rule any other way,
so none can forget the redirect, the MFA requirement, or the check itself."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "audit", "consent", "accounts", "provenance", "generation", "stories", "bespoke")


def test_only_core_stepup_calls_the_rule_itself():
    callers = sorted(str(path.relative_to(ROOT)) for package in PACKAGES for path in (ROOT / package).rglob("*.py")
                     if path != ROOT / "core" / "stepup.py" and re.search(r"\brequire_step_up\(", path.read_text()))
    assert callers == []
