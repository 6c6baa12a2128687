"""`manage.py serve ADDR:PORT` (and so `./dev run ADDR:PORT`): the links the portal hands out and the
status URL the worker writes into manifests name the address it serves, not port 8000."""

from __future__ import annotations

import os
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from accounts.invitations import invitation_link
from bespoke.management.commands import serve


@pytest.mark.parametrize(("addrport", "url"), [
    ("127.0.0.1:8311", "http://127.0.0.1:8311"), ("8311", "http://127.0.0.1:8311"),
    ("0.0.0.0:8311", "http://127.0.0.1:8311"), ("[::1]:8312", "http://[::1]:8312"),
    ("localhost:9000", "http://localhost:9000"),
])
def test_the_public_url_is_the_address_served(addrport, url):
    assert serve.served_public_url(addrport) == url


def _serve(addrport: str, monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Run `serve` with the worker and Django's server stood in for: what each would have used."""
    seen: dict[str, str] = {}

    class Worker:
        pid = 0

        def send_signal(self, signal: int) -> None:
            pass

        def wait(self, timeout: float) -> int:
            return 0

    def popen(command: list[str], **kwargs: object) -> Worker:
        seen["worker"] = (kwargs.get("env") or os.environ)["BESPOKE_PUBLIC_URL"]  # type: ignore[index]
        return Worker()

    def command(name: str, *args: object, **kwargs: object) -> None:
        if name == "runserver":
            seen["portal"] = django_settings.BESPOKE_PUBLIC_URL
            seen["invitation"] = invitation_link("t0ken")

    monkeypatch.setattr(serve.subprocess, "Popen", popen)
    monkeypatch.setattr(serve, "call_command", command)
    call_command("serve", addrport, stdout=StringIO())
    return seen


def test_serve_on_another_port_names_that_port_in_invitations_and_in_the_workers_manifests(monkeypatch, settings):
    monkeypatch.setenv("BESPOKE_PUBLIC_URL", "")  # so that what serve sets is undone after the test
    monkeypatch.delenv("BESPOKE_PUBLIC_URL")
    seen = _serve("127.0.0.1:8311", monkeypatch)
    assert seen["invitation"].startswith("http://127.0.0.1:8311/")
    assert seen["portal"] == seen["worker"] == "http://127.0.0.1:8311"


def test_a_public_url_that_is_set_is_kept(monkeypatch, settings):
    monkeypatch.setenv("BESPOKE_PUBLIC_URL", "https://bespoke.example")
    settings.BESPOKE_PUBLIC_URL = "https://bespoke.example"
    seen = _serve("127.0.0.1:8311", monkeypatch)
    assert seen["invitation"].startswith("https://bespoke.example/")
    assert seen["worker"] == "https://bespoke.example"
