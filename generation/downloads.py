"""A published render output as a file, for the portal and the API alike (see core.downloads)."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import HttpResponse

from core.downloads import file_response
from generation.models import RenderOutput


def render_output_download(*, output: RenderOutput, inline: bool = False) -> HttpResponse:
    """The labelled MP4, as an attachment; `inline` only for a page that plays it in place."""
    return file_response(default_storage.open(output.file.name, "rb"), filename=f"{output.id}.mp4",
                         content_type="video/mp4", inline=inline)
