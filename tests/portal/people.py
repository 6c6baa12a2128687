"""Helpers the portal's desk and representation tests share: signed-in clients (with and
without a fresh second factor), the minor talent and her guardian, and the evidence they
upload through the portal."""

from __future__ import annotations

import io
import re
from datetime import date

from dateutil.relativedelta import relativedelta
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from tests.accounts.conftest import totp_code
from tests.consent.evidence import evidence_files

MINOR_AGE = 12


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    """Signed in with an authenticator app enrolled (legal staff and verifiers may do nothing without one)."""
    from accounts.services import totp_enrol

    totp_enrol(user=user)
    client = Client()
    client.force_login(user)
    return client


def stepped_up(user) -> Client:  # type: ignore[no-untyped-def]
    """Signed in, with an authenticator app, and just confirmed through allauth's reauthentication page."""
    from accounts.services import totp_enrol

    client = signed_in(user)
    secret = totp_enrol(user=user)
    assert client.post("/accounts/2fa/reauthenticate/", {"code": totp_code(secret)}).status_code == 302
    return client


def minor_birth_date() -> date:
    return timezone.localdate() - relativedelta(years=MINOR_AGE)


def minor_and_guardian(personas, django_user_model):  # type: ignore[no-untyped-def]
    """Mia, a talent the desk verified as a minor, and Gabe, a user with no role who will be her guardian."""
    from consent import services
    from tests.conftest import verify_identity

    mia = django_user_model.objects.create_user(username="mia", password="pw-miamiamia")
    gabe = django_user_model.objects.create_user(username="gabe", password="pw-gabegabegabe")
    talent = services.talent_enrol(user=mia, display_name="Mia Minor", acting_user=mia)
    verify_identity(personas, talent, birth_date=minor_birth_date())
    return talent, gabe


def upload(kind: str) -> dict[str, object]:
    """A portal upload form's fields for one kind of evidence."""
    name, data = evidence_files()[kind]
    return {"kind": kind, "file": SimpleUploadedFile(name, data)}


def field_errors(page: str, name: str) -> str:
    """The errors shown beside one form field (the list its input is described by)."""
    match = re.search(rf'<ul class="errorlist" id="id_{name}_error">(.*?)</ul>', page, re.DOTALL)
    assert match and f'aria-describedby="id_{name}_error"' in page, f"no error shown beside {name}"
    return match.group(1).replace("&#x27;", "'").replace("&quot;", '"')


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')


def png(content: bytes) -> bool:
    from PIL import Image

    return Image.open(io.BytesIO(content)).format == "PNG"
