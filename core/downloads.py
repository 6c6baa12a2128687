"""The one way a file is answered to the portal and the API alike.

Every file Bespoke hands out goes through here: an attachment unless a page embeds it on
purpose, never sniffed into another type, never kept by a shared cache, and never kept at
all when it is private to a few people (`no_store`).

- `stored_file_response`: a file in the "default" storage (a render output, a story cut),
  answered after the view has decided the caller may have it. On an S3 object store it is
  a redirect to a short-lived pre-signed URL of the object (the store serves the bytes and
  their ranges); on the local filesystem it is handed to the proxy (X-Accel-Redirect) when
  one serves the media folder, else streamed here with single byte-range support.
- `file_response`: bytes made in Python (decrypted evidence, an export), or an open file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header

STREAM_CHUNK_BYTES = 64 * 1024
# 18 digits is past any file; a longer number is answered with the whole file, never parsed
_SINGLE_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")


class RangeNotSatisfiable(Exception):
    pass


def file_response(content: bytes | IO[bytes], *, filename: str, content_type: str, inline: bool = False,
                  no_store: bool = False) -> HttpResponse:
    """`content` (bytes, or an open binary file that the response streams and closes) as
    `filename`: `Content-Disposition: attachment` unless `inline`; `X-Content-Type-Options:
    nosniff`; `Cache-Control: no-store` when `no_store`, `private` otherwise."""
    if isinstance(content, bytes):
        response: HttpResponse = HttpResponse(content, content_type=content_type)
    else:
        response = FileResponse(content, content_type=content_type)
    return _with_file_headers(response, filename=filename, inline=inline, no_store=no_store)


def stored_file_response(request: HttpRequest, name: str, *, filename: str, content_type: str,
                         inline: bool = False, no_store: bool = False,
                         storage: Storage | None = None) -> HttpResponse:
    """The stored file `name` as `filename` (headers as `file_response`). Call it only once
    the caller is known to be allowed the file: a pre-signed URL is a bearer credential."""
    storage = storage or default_storage
    if _presigned_downloads(storage):
        return _presigned_redirect(storage, name, filename=filename, content_type=content_type, inline=inline,
                                   no_store=no_store)
    accel_prefix = settings.BESPOKE_DOWNLOAD_ACCEL_PREFIX
    if accel_prefix and isinstance(storage, FileSystemStorage):
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = accel_prefix.rstrip("/") + "/" + quote(name.lstrip("/"))
        return _with_file_headers(response, filename=filename, inline=inline, no_store=no_store)
    return _ranged_response(request, storage, name, filename=filename, content_type=content_type, inline=inline,
                            no_store=no_store)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) bytes a `Range` header asks of a `size`-byte file; None
    for no header, or one this answers in full (several ranges, another unit, bad syntax);
    RangeNotSatisfiable when no byte of the file is in it."""
    match = _SINGLE_RANGE.match((header or "").strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable()
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # syntactically invalid: ignored (RFC 9110, 14.1.1)
    if first >= size:
        raise RangeNotSatisfiable()
    return first, min(int(last_text), size - 1) if last_text else size - 1


def _presigned_downloads(storage: Storage) -> bool:
    if not settings.BESPOKE_S3_PRESIGNED_DOWNLOADS:
        return False
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # pragma: no cover - django-storages is a dependency
        return False
    return isinstance(storage, S3Storage)


def _presigned_redirect(storage: Storage, name: str, *, filename: str, content_type: str, inline: bool,
                        no_store: bool) -> HttpResponse:
    url = storage.url(name, parameters={
        "ResponseContentDisposition": content_disposition_header(not inline, filename),
        "ResponseContentType": content_type,
        "ResponseCacheControl": "no-store" if no_store else "private",
    }, expire=settings.BESPOKE_S3_URL_EXPIRE_SECONDS)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"  # the URL expires soon; nobody may keep the redirect
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _ranged_response(request: HttpRequest, storage: Storage, name: str, *, filename: str, content_type: str,
                     inline: bool, no_store: bool) -> HttpResponse:
    handle = storage.open(name, "rb")
    size = handle.size
    try:
        wanted = None if "HTTP_IF_RANGE" in request.META else byte_range(request.META.get("HTTP_RANGE"), size)
    except RangeNotSatisfiable:
        handle.close()
        response = HttpResponse(status=416, content_type="text/plain")
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    if wanted is None:
        response: HttpResponse = FileResponse(handle, content_type=content_type)
    else:
        first, last = wanted
        handle.seek(first)
        response = StreamingHttpResponse(_Span(handle, last - first + 1), status=206, content_type=content_type)
        response["Content-Length"] = str(last - first + 1)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    return _with_file_headers(response, filename=filename, inline=inline, no_store=no_store)


class _Span:
    """`length` bytes of an open file from where it stands, in chunks; closing it (as the
    response does when it is done, sent or not) closes the file."""

    def __init__(self, handle: IO[bytes], length: int) -> None:
        self.handle = handle
        self.length = length

    def __iter__(self) -> Iterator[bytes]:
        left = self.length
        while left > 0:
            chunk = self.handle.read(min(STREAM_CHUNK_BYTES, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self.handle.close()


def _with_file_headers(response: HttpResponse, *, filename: str, inline: bool, no_store: bool) -> HttpResponse:
    response["Content-Disposition"] = content_disposition_header(not inline, filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store" if no_store else "private"
    return response
