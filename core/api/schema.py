"""OpenAPI post-processing: every operation documents the one error body it may return."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "field", "errors"],
    "properties": {
        "code": {"type": "string", "description": "A stable machine-readable code, e.g. invalid, not_found, "
                                                  "consent_refused, reauthentication_required."},
        "message": {"type": "string", "description": "What went wrong, in plain words."},
        "field": {"type": "string", "nullable": True, "description": "The input field at fault, if any."},
        "errors": {"nullable": True, "description": "Per-field details, or the consent gate's reason."},
    },
}
ERROR_STATUSES = {
    "400": "The input is invalid.",
    "401": "Not signed in, or a fresh authentication (X-Bespoke-OTP) is needed.",
    "403": "Not allowed for this account (or MFA enrolment is required).",
    "404": "No such object in your scope.",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "409": "Refused in the current state, or by the consent gate.",
    "415": "Unsupported media type.",
    "422": "The idempotency key was used for a different request.",
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_STATUSES.items():
                responses.setdefault(code, {"description": description, "content": reference})
    return result
