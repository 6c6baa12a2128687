"""The public verify page and the consent status endpoint named in every manifest."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from bespoke.ratelimit import limited
from consent import gate
from provenance.c2pa_io import MediaReadError
from provenance.services import media_verify, watermark_status

MAX_VERIFY_BYTES = 200 * 1024 * 1024
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


@require_http_methods(["GET", "POST"])
@limited("verify-upload", lambda: settings.BESPOKE_VERIFY_UPLOADS_PER_MINUTE, methods=("POST",))
def verify_upload(request: HttpRequest) -> HttpResponse:
    result = None
    error = None
    form = VerifyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        with tempfile.TemporaryDirectory(prefix="bespoke-verify-") as workdir:
            path = Path(workdir) / f"upload{upload.detected_suffix}"
            with path.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            try:
                result = media_verify(path=path).as_dict()
            except MediaReadError as exc:
                error = f"The file could not be read: {exc}"
    status = 400 if request.method == "POST" and (form.errors or error) else 200
    return render(request, "portal/verify.html", {"form": form, "result": result, "error": error}, status=status)


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
