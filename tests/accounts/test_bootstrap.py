"""`manage.py bootstrap` gives the demo accounts verified emails and prints the demo TOTP secrets."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.services import totp_secret
from bespoke.management.commands.bootstrap import DEMO_PASSWORD, VIEWER_BIRTH_DATE
from consent.models import Membership, Talent
from tests.accounts.conftest import totp_code

SECRET_LINE = re.compile(r"demo TOTP secret for (\w+): ([A-Z2-7]{32})$", re.MULTILINE)


@pytest.mark.django_db
def test_bootstrap_prints_the_same_demo_totp_secrets_on_every_run(tiny_model, client):
    runs = [StringIO(), StringIO()]
    for out in runs:
        call_command("bootstrap", stdout=out)
    first, again = (dict(SECRET_LINE.findall(out.getvalue())) for out in runs)
    assert set(first) == {"alice", "dana", "erin", "frank", "grace"} and again == first
    users = {user.username: user for user in get_user_model().objects.all()}
    for username, secret in first.items():
        assert totp_secret(user=users[username]) == secret
        assert secret not in str(Authenticator.objects.get(user=users[username], type=Authenticator.Type.TOTP).data)
    assert not Authenticator.objects.filter(user__username__in=("bob", "charlie")).exists()
    assert set(EmailAddress.objects.filter(verified=True, primary=True).values_list("user__username", flat=True)) == \
        {"alice", "bob", "charlie", "dana", "erin", "frank", "grace", "vera", "theo"}
    verifiers = set(Membership.objects.filter(role=Membership.Role.VERIFIER, organization__kind="operator")
                    .values_list("user__username", flat=True))
    assert verifiers == {"frank", "grace"}
    assert not Membership.objects.filter(user__username__in=verifiers, organization__kind="studio").exists()

    response = client.post("/accounts/login/", {"login": "dana@example.com", "password": DEMO_PASSWORD})
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.post("/accounts/2fa/authenticate/", {"code": totp_code(first["dana"])})["Location"] == "/"
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_bootstrap_makes_vera_a_viewer_once_who_signs_in_to_star_in_stories(tiny_model, client):
    for _ in range(2):
        call_command("bootstrap", stdout=StringIO())
    vera = Talent.objects.get(user__username="vera")
    assert (vera.kind, vera.declared_birth_date) == (Talent.Kind.VIEWER, VIEWER_BIRTH_DATE)
    response = client.post("/accounts/login/", {"login": "vera", "password": DEMO_PASSWORD})
    assert response["Location"] == "/"
    assert "Star in a story" in client.get("/").content.decode()
