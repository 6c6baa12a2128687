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
from django.shortcuts import render
from django_ratelimit.core import get_usage

from core.api.errors import error_response, wants_json
from core.client import client_address

RATE_LIMITED = "Too many requests from your address; try again in a minute."
# A view's own page for a refused request: given the request and the seconds until the client may retry.
RefusedPage = Callable[[HttpRequest, int], HttpResponse]


def retry_message(seconds: int) -> str:
    """What a person over the limit is told: that they were refused and when to try again."""
    return f"Too many requests from your address; try again in {seconds} second{'' if seconds == 1 else 's'}."


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
            page: RefusedPage | None = None,
            ) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Answer 429 to a client over ``per_minute()`` requests a minute (of ``methods``) to this view;
    to a person, with ``page`` (the view's own page saying when to retry) when given."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            usage = _usage(request, scope=scope, per_minute=per_minute(), methods=methods)
            if usage is not None and usage["should_limit"]:
                return too_many_requests(request, retry_after=usage["time_left"], page=page)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def too_many_requests(request: HttpRequest, *, retry_after: int | None = None, page: RefusedPage | None = None,
                      ) -> HttpResponse:
    """429 with Retry-After (the seconds left in the client's window, at least 1; a minute when
    unknown): the API's error body to API clients, ``page`` or the 429 page to everyone else."""
    seconds = min(max(int(retry_after if retry_after is not None else 60), 1), 60)
    if wants_json(request):
        return error_response("rate_limited", RATE_LIMITED, http_status=429, headers={"Retry-After": str(seconds)})
    if page is not None:
        response = page(request, seconds)
    else:
        message = RATE_LIMITED if retry_after is None else retry_message(seconds)
        response = render(request, "429.html", {"message": message}, status=429)
    response.status_code = 429
    response["Retry-After"] = str(seconds)
    return response
