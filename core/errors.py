"""Errors that services raise for the caller to show: a stable code and a plain message."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 errors: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors
        if code:
            self.code = code

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field}


class ValidationFailed(ApplicationError):
    code = "invalid"


class NotAllowed(ApplicationError):
    code = "not_allowed"


class InvalidTransition(ApplicationError):
    code = "invalid_transition"
