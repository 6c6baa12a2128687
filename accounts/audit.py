"""Changes to a user's second factor are recorded in the audit log, like every other change."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.actors import user_actor
from audit.services import audit_append


def authenticator_added(*, user: Any, authenticator: Any, **_: Any) -> None:
    _record("account.mfa_added", user, authenticator)


def authenticator_removed(*, user: Any, authenticator: Any, **_: Any) -> None:
    _record("account.mfa_removed", user, authenticator)


def _record(action: str, user: Any, authenticator: Any) -> None:
    with transaction.atomic():
        audit_append(action=action, actor=user_actor(user), subject=user_actor(user),
                     data={"type": str(authenticator.type)})
