"""A request limit per client address and minute, for the public endpoints.

The counting is django-ratelimit's (a fixed one-minute window per client, its counters
in the default cache: shared in production, see CACHES); this module only names the
client and shapes the 429. The client is ``client_address`` (BESPOKE_TRUSTED_PROXY_COUNT
applies), the one signatures record; an IPv6 client is its /64 network (allauth's
RATE_LIMIT_IPV6_PREFIX), as for allauth's sign-in limits, so that one host cannot rotate
through the addresses of its own network to get a fresh allowance.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any

from allauth import app_settings as allauth_settings
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django_ratelimit.core import get_usage

from core.api.errors import error_response, wants_json
from core.client import client_address

RATE_LIMITED = "Too many requests from your address; try again in a minute."
RATE_LIMITED_PAGE = """{% extends "base.html" %}{% block title %}Too many requests · Bespoke{% endblock %}
{% block content %}<h1>Too many requests</h1>
<p class="bad" role="alert">{{ message }}</p>{% endblock %}"""


def limited_client(group: str, request: HttpRequest) -> str:
    """Whom a limit counts: the client's address, an IPv6 one widened to its network."""
    address = client_address(request)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        network = ipaddress.ip_network(f"{ip}/{allauth_settings.RATE_LIMIT_IPV6_PREFIX}", strict=False)
        return str(network.network_address)
    return address


def _usage(request: HttpRequest, *, scope: str, per_minute: int, methods: tuple[str, ...] | None = None,
           ) -> dict[str, Any] | None:
    """Count this request against ``per_minute`` (None when its method is not counted)."""
    return get_usage(request, group=scope, key=limited_client, rate=(per_minute, 60),
                     method=list(methods) if methods is not None else get_usage.ALL, increment=True)


def within_limit(request: HttpRequest, *, scope: str, per_minute: int) -> bool:
    """Count this request; False once the client made more than ``per_minute`` this minute."""
    usage = _usage(request, scope=scope, per_minute=per_minute)
    return usage is None or not usage["should_limit"]


def limited(scope: str, per_minute: Callable[[], int], *, methods: tuple[str, ...] = ("GET", "POST"),
            ) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Answer 429 to a client over ``per_minute()`` requests a minute (of ``methods``) to this view."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            usage = _usage(request, scope=scope, per_minute=per_minute(), methods=methods)
            if usage is not None and usage["should_limit"]:
                return too_many_requests(request, retry_after=usage["time_left"])
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def too_many_requests(request: HttpRequest, *, retry_after: int = 60) -> HttpResponse:
    """429 with Retry-After (the seconds left in the client's window, at least 1): the API's
    error body to API clients, a page to everyone else."""
    headers = {"Retry-After": str(min(max(int(retry_after), 1), 60))}
    if wants_json(request):
        return error_response("rate_limited", RATE_LIMITED, http_status=429, headers=headers)
    page = engines["django"].from_string(RATE_LIMITED_PAGE).render({"message": RATE_LIMITED}, request)
    return HttpResponse(page, status=429, headers=headers)
