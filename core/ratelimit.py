"""A fixed-window request limit per client address, for the public endpoints.

Counters live in the default cache (shared in production, see CACHES). The client is
``client_address`` (BESPOKE_TRUSTED_PROXY_COUNT applies), the one signatures record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template import engines

from core.api.errors import error_response, wants_json
from core.client import client_address

RATE_LIMITED = "Too many requests from your address; try again in a minute."
RATE_LIMITED_PAGE = """{% extends "base.html" %}{% block title %}Too many requests · Bespoke{% endblock %}
{% block content %}<h1>Too many requests</h1>
<p class="bad" role="alert">{{ message }}</p>{% endblock %}"""


def within_limit(request: HttpRequest, *, scope: str, per_minute: int) -> bool:
    """Count this request; False once the client made more than ``per_minute`` this minute."""
    client = client_address(request)
    key = f"bespoke:limit:{scope}:{client}:{int(time.time() // 60)}"
    if cache.add(key, 1, timeout=61):
        return True
    try:
        return cache.incr(key) <= per_minute
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, timeout=61)
        return True


def limited(scope: str, per_minute: Callable[[], int], *, methods: tuple[str, ...] = ("GET", "POST"),
            ) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Answer 429 to a client over ``per_minute()`` requests a minute (of ``methods``) to this view."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method in methods and not within_limit(request, scope=scope, per_minute=per_minute()):
                return too_many_requests(request)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def too_many_requests(request: HttpRequest) -> HttpResponse:
    """429 with Retry-After: the API's error body to API clients, a page to everyone else."""
    retry_after = 60 - int(time.time()) % 60  # the counters' fixed window ends on the minute
    headers = {"Retry-After": str(retry_after)}
    if wants_json(request):
        return error_response("rate_limited", RATE_LIMITED, http_status=429, headers=headers)
    page = engines["django"].from_string(RATE_LIMITED_PAGE).render({"message": RATE_LIMITED}, request)
    return HttpResponse(page, status=429, headers=headers)
