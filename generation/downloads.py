"""A published render output as a file, for the portal and the API alike (see core.downloads)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from core.downloads import stored_file_response
from generation.models import RenderOutput


def render_output_download(request: HttpRequest, *, output: RenderOutput, inline: bool = False) -> HttpResponse:
    """The labelled MP4, as an attachment; `inline` only for a page that plays it in place.
    The caller has already found `output` within the requesting user's scope."""
    return stored_file_response(request, output.file.name, filename=f"{output.id}.mp4", content_type="video/mp4",
                                inline=inline)
