"""A talent's own data, gathered across the apps: the one export path that the API and
the portal both call (consent keeps the records about the talent, generation their jobs).

Erasure needs nothing from other apps: both call `consent.services.talent_erase`.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpResponse

from core.downloads import file_response

from consent.export import talent_export
from consent.models import Talent
from generation.selectors import job_records_for_licenses

EXPORT_FILENAME = "bespoke-export.zip"


def own_talent(*, user: AbstractBaseUser | AnonymousUser) -> Talent | None:
    """The talent record of the signed-in user, if they are a talent."""
    if not user.is_authenticated:
        return None
    return Talent.objects.filter(user=user).first()


def talent_data_export(*, talent: Talent, acting_user: AbstractBaseUser) -> bytes:
    """The zip of `data.json` (every record about the talent, their renders and trainings
    included) and their decrypted files; audited as `talent.exported`."""
    related = job_records_for_licenses(license_ids=talent.licenses.values("id"))
    return talent_export(talent=talent, acting_user=acting_user, related=related)


def talent_data_download(*, talent: Talent, acting_user: AbstractBaseUser) -> HttpResponse:
    """The export as a file, for the portal and the API alike: an attachment, never stored."""
    return file_response(talent_data_export(talent=talent, acting_user=acting_user), filename=EXPORT_FILENAME,
                         content_type="application/zip", no_store=True)
