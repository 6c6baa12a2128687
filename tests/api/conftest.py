"""API clients for the personas: signed in, MFA-enrolled where the role needs it, and with a
fresh MFA confirmation (step-up) made through allauth's own reauthentication page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tests.accounts.conftest import totp_code

MFA_ROLES = ("alice", "dana", "erin", "frank", "grace")


@pytest.fixture
def mfa_personas(personas, empty_cache):  # type: ignore[no-untyped-def]
    """Legal staff and verifiers must have MFA to use the portal or API at all; the talent needs it to sign."""
    from accounts.services import totp_enrol

    personas.totp_secrets = {name: totp_enrol(user=getattr(personas, name)) for name in MFA_ROLES}
    return personas


@pytest.fixture
def api(mfa_personas) -> Callable[[str | None], APIClient]:  # type: ignore[no-untyped-def]
    """api("alice") -> a client signed in as Alice who has just confirmed her authenticator code."""
    clients: dict[str | None, APIClient] = {}

    def client_for(name: str | None) -> APIClient:
        if name not in clients:
            client = APIClient()
            if name is not None:
                client.force_login(getattr(mfa_personas, name))
                if name in MFA_ROLES:
                    code = totp_code(mfa_personas.totp_secrets[name])
                    response = client.post("/accounts/2fa/reauthenticate/", {"code": code})
                    assert response.status_code == 302, response.content
            clients[name] = client
        return clients[name]

    return client_for
