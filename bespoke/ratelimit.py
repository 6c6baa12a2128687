"""A fixed-window request limit per client address, for the public endpoints.

Counters live in the default cache (shared in production, see CACHES). The client is
who allauth says it is for the sign-in limits (BESPOKE_TRUSTED_PROXY_COUNT applies).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from allauth.account.adapter import get_adapter
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse


def within_limit(request: HttpRequest, *, scope: str, per_minute: int) -> bool:
    """Count this request; False once the client made more than ``per_minute`` this minute."""
    client = get_adapter(request).get_client_ip(request)
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
                response = JsonResponse({"code": "rate_limited",
                                         "message": "Too many requests from your address; try again in a minute."},
                                        status=429)
                response["Retry-After"] = "60"
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
