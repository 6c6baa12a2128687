"""The one way a file is answered to the portal and the API alike.

Every file Bespoke hands out (a render output, decrypted identity or representation
evidence) goes through `file_response`: an attachment unless a page embeds it on purpose,
never sniffed into another type, never kept by a shared cache, and never kept at all when
it is private to a few people (`no_store`).
"""

from __future__ import annotations

from typing import IO

from django.http import FileResponse, HttpResponse
from django.utils.http import content_disposition_header


def file_response(content: bytes | IO[bytes], *, filename: str, content_type: str, inline: bool = False,
                  no_store: bool = False) -> HttpResponse:
    """`content` (bytes, or an open binary file that the response streams and closes) as
    `filename`: `Content-Disposition: attachment` unless `inline`; `X-Content-Type-Options:
    nosniff`; `Cache-Control: no-store` when `no_store`, `private` otherwise."""
    if isinstance(content, bytes):
        response: HttpResponse = HttpResponse(content, content_type=content_type)
    else:
        response = FileResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(not inline, filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store" if no_store else "private"
    return response
