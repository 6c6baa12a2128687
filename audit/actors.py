"""How actors are named in audit events: pseudonymous, stable references."""

from __future__ import annotations

from typing import Protocol


class _HasPk(Protocol):
    pk: object


def user_actor(user: _HasPk) -> str:
    return f"user:{user.pk}"


SYSTEM_WORKER = "system:worker"
SYSTEM_REAPER = "system:reaper"
SYSTEM_BOOTSTRAP = "system:bootstrap"
SYSTEM_DEMO = "system:demo"
