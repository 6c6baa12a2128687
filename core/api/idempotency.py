"""Idempotency keys on create (a unique constraint, not a cache).

A client sends `Idempotency-Key: <key>`. The key is claimed first, in its own committed
row, so a concurrent repeat cannot start the same work: it is told the first request is
still in progress. The first request's response is stored on its claim; repeating the
request returns it and creates nothing; reusing the key for a different request is
refused. A request that fails releases its key, having changed nothing but its audit
record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.errors import error_body
from core.models import IdempotentRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 100


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str) if hasattr(request.data, "keys") else str(request.data)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


PENDING = 0


def idempotent(request: Request, create: Callable[[], Response]) -> Response:
    key = request.headers.get(HEADER)
    if key is None:
        return create()
    if not key or len(key) > MAX_KEY_LENGTH:
        return Response(error_body("invalid", f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.", HEADER), status=400)
    fingerprint = _fingerprint(request)
    try:
        with transaction.atomic():
            claim = IdempotentRequest.objects.create(user=request.user, key=key, endpoint=request.path,
                                                     request_sha256=fingerprint, response_status=PENDING,
                                                     response_body={})
    except IntegrityError:
        stored = IdempotentRequest.objects.get(user=request.user, key=key)
        if stored.request_sha256 != fingerprint:
            return Response(error_body("idempotency_conflict", f"This {HEADER} was used for a different request.",
                                       HEADER), status=422)
        if stored.response_status == PENDING:
            return Response(error_body("idempotency_conflict", "The first request with this key is still in progress.",
                                       HEADER), status=409)
        return Response(stored.response_body, status=stored.response_status, headers={"Idempotent-Replayed": "true"})
    try:
        response = create()
    except BaseException:
        claim.delete()
        raise
    if response.status_code >= 400:
        claim.delete()
        return response
    claim.response_status = response.status_code
    claim.response_body = json.loads(json.dumps(response.data, default=str))
    claim.save(update_fields=["response_status", "response_body"])
    return response
