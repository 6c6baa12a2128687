"""What every page may need to know about accounts: whether viewers can sign themselves up."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def viewer_signup(request: HttpRequest) -> dict[str, bool]:
    return {"viewer_signup_open": settings.BESPOKE_VIEWER_SIGNUP}
