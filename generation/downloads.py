"""A published render output as a file, for the portal and the API alike (see core.downloads)."""

from __future__ import annotations

from pathlib import PurePosixPath

from django.http import HttpRequest, HttpResponse

from core.downloads import stored_file_response
from generation.models import RenderOutput

# A clip, or a keyframe's one still.
CONTENT_TYPES = {".mp4": "video/mp4", ".png": "image/png"}


def render_output_download(request: HttpRequest, *, output: RenderOutput, inline: bool = False) -> HttpResponse:
    """The labelled, signed file (an MP4 clip, or a keyframe's PNG), as an attachment; `inline` only for a
    page that shows it in place. The caller has already found `output` within the requesting user's scope."""
    suffix = PurePosixPath(output.file.name).suffix.lower()
    return stored_file_response(request, output.file.name, filename=f"{output.id}{suffix}",
                                content_type=CONTENT_TYPES[suffix], inline=inline)
