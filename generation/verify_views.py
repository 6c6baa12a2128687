"""The public verify page and the consent status endpoint named in every manifest.

Here in generation, not provenance: a copy is traced to the output Bespoke published."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from core.ratelimit import limited, retry_message
from consent import gate
from generation.tracing import media_verify, watermark_status
from provenance.c2pa_io import MediaReadError
from provenance.services import verify_budget
from provenance.verify_bounds import TOO_LARGE_MESSAGE, Deadline, TooLargeToCheck

logger = logging.getLogger(__name__)

MAX_VERIFY_BYTES = 200 * 1024 * 1024
UNREADABLE_MESSAGE = "This file could not be read as an MP4 video, PNG or JPEG image."
SUFFIXES = {"video/mp4": ".mp4", "image/png": ".png", "image/jpeg": ".jpg"}


class VerifyForm(forms.Form):
    file = forms.FileField(label="File to check", help_text="An MP4 video, PNG or JPEG image, up to 200 MB.")

    def clean_file(self):  # type: ignore[no-untyped-def]
        upload = self.cleaned_data["file"]
        if upload.size > MAX_VERIFY_BYTES:
            raise forms.ValidationError("That file is larger than 200 MB.")
        head = upload.read(16)
        upload.seek(0)
        if head[4:8] == b"ftyp":
            upload.detected_suffix = ".mp4"
        elif head.startswith(b"\x89PNG\r\n\x1a\n"):
            upload.detected_suffix = ".png"
        elif head.startswith(b"\xff\xd8\xff"):
            upload.detected_suffix = ".jpg"
        else:
            raise forms.ValidationError("This is not an MP4 video, PNG or JPEG image.")
        return upload


def _verify_refused(request: HttpRequest, retry_after: int) -> HttpResponse:
    """The verify page, its form empty, saying that this address checked too many files and when to retry."""
    return render(request, "portal/verify.html", {"form": VerifyForm(), "result": None,
                                                  "error": retry_message(retry_after)}, status=429)


@require_http_methods(["GET", "POST"])
@limited("verify-upload", lambda: settings.BESPOKE_VERIFY_UPLOADS_PER_MINUTE, methods=("POST",), page=_verify_refused)
def verify_upload(request: HttpRequest) -> HttpResponse:
    result = None
    error = None
    status = 200
    # Reading the upload itself counts against the deadline: it is part of the answer's time.
    deadline = Deadline(verify_budget().seconds) if request.method == "POST" else None
    form = VerifyForm(request.POST or None, request.FILES or None)
    if deadline is not None:
        if form.is_valid():
            result, error, status = _check_upload(form.cleaned_data["file"], deadline=deadline)
        else:
            status = 400
    return render(request, "portal/verify.html", {"form": form, "result": result, "error": error}, status=status)


def _check_upload(upload: UploadedFile, *, deadline: Deadline) -> tuple[dict[str, Any] | None, str | None, int]:
    """(result, error, HTTP status) for one upload, checked within the verify budget."""
    with tempfile.TemporaryDirectory(prefix="bespoke-verify-") as workdir:
        path = Path(workdir) / f"upload{upload.detected_suffix}"  # type: ignore[attr-defined]
        with path.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        try:
            return media_verify(path=path, deadline=deadline).as_dict(), None, 200
        except TooLargeToCheck as exc:
            logger.info("verify upload refused (%s): %s", exc.reason, exc.work.as_dict())
            return None, TOO_LARGE_MESSAGE, 413
        except MediaReadError:
            # Library messages name the temporary file: the page only ever gets a fixed sentence.
            return None, UNREADABLE_MESSAGE, 400


@require_GET
@never_cache
@limited("consent-status", lambda: settings.BESPOKE_STATUS_REQUESTS_PER_MINUTE)
def consent_status_view(request: HttpRequest, license_id: str) -> JsonResponse:
    """The status URL in every manifest: is the consent behind it in force today?"""
    status = gate.consent_status(license_id=license_id)
    return JsonResponse(status.as_dict(), status=404 if status.state == "unknown" else 200)


@require_GET
@never_cache
@limited("consent-status", lambda: settings.BESPOKE_STATUS_REQUESTS_PER_MINUTE)
def watermark_status_view(request: HttpRequest, watermark_id: int) -> JsonResponse:
    """The same answer for a watermark id read from a copy whose manifest was stripped."""
    status = watermark_status(watermark_id=watermark_id)
    return JsonResponse(status, status=404 if status["state"] == "unknown" else 200)
