"""Stored files are answered in one way: byte ranges from the filesystem, the proxy's
X-Accel-Redirect when one serves the media folder, a short-lived pre-signed URL on an S3
store, and always only after the view has found the file in the caller's scope."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import RequestFactory
from django.urls import reverse

from core.downloads import RangeNotSatisfiable, byte_range, stored_file_response
from generation.models import RenderOutput
from generation.services import render as services
from tests.conftest import SMALL_RENDER
from tests.generation.test_jobs import _signed_output

CONTENT = bytes(range(100))
# Signing a URL needs no connection: nothing listens here, and nothing is asked.
OFFLINE_S3 = {"BACKEND": "storages.backends.s3.S3Storage",
              "OPTIONS": {"bucket_name": "media", "endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1",
                          "access_key": "key", "secret_key": "secret", "signature_version": "s3v4",
                          "addressing_style": "path", "default_acl": None, "querystring_auth": True}}


@pytest.mark.parametrize(("header", "expected"), [
    (None, None),
    ("bytes=0-9", (0, 9)),
    ("bytes=90-", (90, 99)),
    ("bytes=-5", (95, 99)),
    ("bytes=-500", (0, 99)),
    ("bytes=95-500", (95, 99)),
    ("bytes=99-99", (99, 99)),
    ("bytes=0-1,5-6", None),  # several ranges: the whole file
    ("bytes=9-0", None),  # invalid: ignored
    ("items=0-9", None),
    ("bytes=-", None),
    ("bytes=abc", None),
])
def test_a_range_header_asks_for_these_bytes(header, expected):
    assert byte_range(header, len(CONTENT)) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-200", "bytes=-0"])
def test_a_range_past_the_end_cannot_be_satisfied(header):
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, len(CONTENT))


def _stored() -> str:
    return default_storage.save("renders/job/output.mp4", ContentFile(CONTENT))


def _get(name: str, **headers: str):  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/download", **headers)
    return stored_file_response(request, name, filename="output.mp4", content_type="video/mp4")


def _body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content)


def test_the_whole_file_says_it_accepts_ranges():
    response = _get(_stored())
    assert response.status_code == 200 and _body(response) == CONTENT
    assert response["Accept-Ranges"] == "bytes" and response["Content-Length"] == "100"
    assert response["Content-Disposition"] == 'attachment; filename="output.mp4"'
    assert (response["Cache-Control"], response["X-Content-Type-Options"]) == ("private", "nosniff")


@pytest.mark.parametrize(("header", "first", "last"), [("bytes=10-19", 10, 19), ("bytes=-7", 93, 99),
                                                       ("bytes=98-1000", 98, 99), ("bytes=0-0", 0, 0)])
def test_a_byte_range_is_answered_206_with_exactly_those_bytes(header, first, last):
    response = _get(_stored(), HTTP_RANGE=header)
    assert response.status_code == 206 and _body(response) == CONTENT[first:last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/100"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Content-Disposition"] == 'attachment; filename="output.mp4"'


def test_an_unsatisfiable_range_is_416_with_the_size():
    response = _get(_stored(), HTTP_RANGE="bytes=100-")
    assert response.status_code == 416 and response["Content-Range"] == "bytes */100"


@pytest.mark.parametrize("header", ["bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000])
def test_a_range_of_thousands_of_digits_is_ignored_not_an_error(header):
    response = _get(_stored(), HTTP_RANGE=header)
    assert response.status_code == 200 and _body(response) == CONTENT


def test_a_range_with_if_range_gets_the_whole_file():
    response = _get(_stored(), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"some-etag"')
    assert response.status_code == 200 and _body(response) == CONTENT


def test_behind_a_proxy_the_bytes_are_handed_to_it(settings):
    settings.BESPOKE_DOWNLOAD_ACCEL_PREFIX = "/protected-media/"
    response = _get(_stored())
    assert response["X-Accel-Redirect"] == "/protected-media/renders/job/output.mp4"
    assert response.content == b""
    assert (response["Content-Type"], response["Cache-Control"]) == ("video/mp4", "private")
    assert response["Content-Disposition"] == 'attachment; filename="output.mp4"'


def test_on_an_s3_store_the_answer_is_a_short_lived_presigned_url(settings):
    settings.STORAGES = {**settings.STORAGES, "default": OFFLINE_S3}
    settings.BESPOKE_S3_URL_EXPIRE_SECONDS = 120
    response = _get("renders/job/output.mp4")
    assert response.status_code == 302 and response["Cache-Control"] == "no-store"
    url = urlsplit(response["Location"])
    query = parse_qs(url.query)
    assert (url.netloc, url.path) == ("127.0.0.1:9", "/media/renders/job/output.mp4")
    assert query["response-content-disposition"] == ['attachment; filename="output.mp4"']
    assert query["response-content-type"] == ["video/mp4"]
    assert query["response-cache-control"] == ["private"]
    assert query["X-Amz-Expires"] == ["120"] and "X-Amz-Signature" in query


def test_with_presigned_downloads_off_the_s3_object_is_streamed_here(settings):
    settings.STORAGES = {**settings.STORAGES, "default": OFFLINE_S3}
    settings.BESPOKE_S3_PRESIGNED_DOWNLOADS = False
    from botocore.exceptions import EndpointConnectionError

    with pytest.raises(EndpointConnectionError):  # it reads the object itself: nothing listens there
        _get("renders/job/output.mp4")


@pytest.mark.django_db
def test_only_a_caller_in_scope_gets_a_url_others_get_404(personas, active_license, settings, client):
    job = services.render_job_request(license_id=str(active_license.id), prompt="a walk", params=SMALL_RENDER,
                                      acting_user=personas.bob)
    claimed = services.render_job_claim(job_id=str(job.id), worker="w1")
    output_id, signed, watermark_id = _signed_output(tmp=Path(settings.MEDIA_ROOT).parent / "work",
                                                     license=active_license)
    services.render_job_publish(job_id=str(job.id), attempt=claimed.attempt, output_id=output_id, signed=signed,
                                model_sha256="0" * 64, disclosure={}, watermark_id=watermark_id)
    output = RenderOutput.objects.get(job=job)
    settings.STORAGES = {**settings.STORAGES, "default": OFFLINE_S3}
    portal = reverse("portal-render-download", args=[job.id])
    api = f"/api/v1/renders/{job.id}/download/"

    client.force_login(personas.charlie)
    for url in (portal, api):
        answer = client.get(url)
        assert answer.status_code == 404 and "Location" not in answer and b"X-Amz" not in answer.content
    client.logout()
    assert "X-Amz" not in client.get(portal).get("Location", "")

    client.force_login(personas.bob)
    for url in (portal, api):
        answer = client.get(url)
        assert answer.status_code == 302 and f"/media/{output.file.name}?" in answer["Location"]
