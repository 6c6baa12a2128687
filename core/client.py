"""Who is on the other end of a request: one answer for rate limits and signature evidence."""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The client's IP address, as allauth's sign-in limits see it.

    With BESPOKE_TRUSTED_PROXY_COUNT = n > 0 it is the n-th X-Forwarded-For entry from the
    right (each trusted proxy appends the address it received the request from, so that
    entry was written by our own outermost proxy and everything left of it by the client);
    with 0 the header is ignored and it is the peer address (REMOTE_ADDR). PermissionDenied
    when there is none to be found, or when X-Forwarded-For holds fewer entries than there
    are trusted proxies (the request did not come through them).
    """
    try:
        return get_adapter(request).get_client_ip(request)
    except ImproperlyConfigured as short_chain:
        raise PermissionDenied("This request did not come through the expected proxies.") from short_chain
