"""Likeness uploads (reference photos, identity evidence), checked by content against an
allow-list and bounded in bytes, pixels and duration.

Images are decoded, orientation applied, and re-encoded: nothing of the upload survives
but the pixels (no EXIF, no GPS, no ICC profile, no trailing bytes). Videos (MP4 or WebM,
in one of VIDEO_CODECS: H.264, HEVC, VP8, VP9 or AV1) are decoded and their pictures
encoded anew as H.264 MP4 without audio; PDFs are parsed strictly and written anew from
their pages. A refused upload raises ValidationFailed with a message a person can act on.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import ValidationFailed

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
EXTENSIONS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}


@dataclass(frozen=True)
class PreparedPhoto:
    png: bytes
    width: int
    height: int


def prepare_reference_photo(data: bytes, *, filename: str, resolution: int, max_bytes: int, max_pixels: int,
                            min_side: int) -> PreparedPhoto:
    """A training photo: a checked image, cropped to a square at the training resolution."""
    return prepare_image(data, filename=filename, max_bytes=max_bytes, max_pixels=max_pixels, min_side=min_side,
                         square=resolution)


def _check_size(data: bytes, max_bytes: int, field: str) -> None:
    if not data:
        raise ValidationFailed("The file is empty.", field=field)
    if len(data) > max_bytes:
        raise ValidationFailed(f"The file is {len(data) / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB.",
                               field=field)


def prepare_image(data: bytes, *, filename: str, max_bytes: int, max_pixels: int, min_side: int,
                  square: int | None = None, field: str = "photo") -> PreparedPhoto:
    """Check an image by content and re-encode it as PNG, cropped to `square` pixels if given."""
    _check_size(data, max_bytes, field)
    claimed = EXTENSIONS.get(PurePath(filename or "").suffix.lower())
    if filename and PurePath(filename).suffix and claimed is None:
        raise ValidationFailed("Upload a JPEG, PNG or WebP photo.", field=field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = probe.size
            if width * height > max_pixels:
                raise ValidationFailed(f"The photo is {width}×{height} pixels; the limit is {max_pixels:,} pixels.",
                                       field=field)
            if claimed and probe.format != claimed:
                raise ValidationFailed(f"The file is named as {claimed} but is a {probe.format} image.", field=field)
            probe.verify()
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            image.load()
    except ValidationFailed:
        raise
    except UnidentifiedImageError:
        raise ValidationFailed("This is not a JPEG, PNG or WebP image.", field=field) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValidationFailed("The photo has too many pixels to process safely.", field=field) from None
    except (OSError, SyntaxError, ValueError):
        raise ValidationFailed("The image is damaged or truncated.", field=field) from None
    if min(width, height) < min_side:
        raise ValidationFailed(f"The photo is {width}×{height}; use one at least {min_side} pixels on each side.",
                               field=field)
    image = ImageOps.exif_transpose(image).convert("RGB")
    if square is not None:
        image = ImageOps.fit(image, (square, square), method=Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return PreparedPhoto(png=out.getvalue(), width=image.width, height=image.height)


VIDEO_FORMATS = ("mp4", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm")
# The video codecs accepted: FFmpeg's codec name, and the name a person records them by.
VIDEO_CODECS = {"h264": "H.264", "hevc": "HEVC", "vp8": "VP8", "vp9": "VP9", "av1": "AV1"}
VIDEO_MAX_INPUT_PIXELS = 3840 * 2160
VIDEO_MAX_SOURCE_FPS = 120  # bounds the frames decoded, whatever the container claims
VIDEO_MAX_OUTPUT_SIDE = 720
VIDEO_MAX_OUTPUT_FPS = 30
VIDEO_DEFAULT_FPS = 25
_UNREADABLE_VIDEO = "This is not a readable MP4 or WebM video."


def prepare_video(data: bytes, *, max_bytes: int, max_seconds: int, field: str = "file") -> bytes:
    """Check a short MP4 or WebM video in one of VIDEO_CODECS by content and encode its
    pictures anew as H.264 MP4: no audio, no metadata, at most VIDEO_MAX_OUTPUT_SIDE pixels
    on its longer side and VIDEO_MAX_OUTPUT_FPS frames a second. Nothing of the upload
    survives but the pictures."""
    import av

    _check_size(data, max_bytes, field)
    out = io.BytesIO()
    try:
        with av.open(io.BytesIO(data), mode="r") as source:
            stream = _probe_video(source, max_seconds=max_seconds, field=field)
            fps = _output_fps(stream)
            width, height = _output_size(stream.codec_context.width, stream.codec_context.height)
            with av.open(out, mode="w", format="mp4") as target:
                encoder = target.add_stream("libx264", rate=fps)
                encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
                encoder.options = {"crf": "23", "preset": "veryfast"}
                _transcode(source, stream, target, encoder, fps=fps, max_seconds=max_seconds, field=field)
    except ValidationFailed:
        raise
    except (av.FFmpegError, StopIteration, ValueError, OSError, EOFError, ZeroDivisionError):
        raise ValidationFailed(_UNREADABLE_VIDEO, field=field) from None
    return out.getvalue()


def _probe_video(source: Any, *, max_seconds: int, field: str) -> Any:
    """The video stream to re-encode, once the container says it is within bounds."""
    streams = source.streams.video
    if source.format.name not in VIDEO_FORMATS or not streams:
        raise ValidationFailed("Upload an MP4 or WebM video.", field=field)
    stream = streams[0]
    codec = stream.codec_context.codec.canonical_name  # the codec's, not its decoder's: AV1 decodes as libdav1d
    if codec not in VIDEO_CODECS:
        raise ValidationFailed(f"The video codec {codec} is not accepted; record it as "
                               f"{_one_of(list(VIDEO_CODECS.values()))}.", field=field)
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise ValidationFailed(_UNREADABLE_VIDEO, field=field)
    if width * height > VIDEO_MAX_INPUT_PIXELS:
        raise ValidationFailed(f"The video is {width}×{height} pixels; the limit is 3840×2160.", field=field)
    seconds = source.duration / 1_000_000 if source.duration else 0.0
    if seconds > max_seconds:
        raise ValidationFailed(_too_long(seconds, max_seconds), field=field)
    return stream


def _transcode(source: Any, stream: Any, target: Any, encoder: Any, *, fps: int, max_seconds: int, field: str) -> None:
    """Decode every picture and encode those that fall on the output's frame times; the
    decoded pictures themselves are checked, since a container's header can lie."""
    from fractions import Fraction

    time_base = Fraction(1, fps)
    decoded, first_seconds, last_index = 0, None, -1
    for frame in source.decode(stream):
        decoded += 1
        if decoded > max_seconds * VIDEO_MAX_SOURCE_FPS:
            raise ValidationFailed("The video has too many frames to process safely.", field=field)
        if frame.width * frame.height > VIDEO_MAX_INPUT_PIXELS:
            raise ValidationFailed("The video has too many pixels to process safely.", field=field)
        seconds = frame.time if frame.time is not None else (decoded - 1) / fps
        first_seconds = seconds if first_seconds is None else first_seconds
        elapsed = seconds - first_seconds
        if elapsed > max_seconds:
            raise ValidationFailed(_too_long(elapsed, max_seconds), field=field)
        index = round(elapsed * fps)
        if index <= last_index:
            continue
        picture = frame.reformat(width=encoder.width, height=encoder.height, format="yuv420p")
        picture.pts, picture.time_base = index, time_base
        for packet in encoder.encode(picture):
            target.mux(packet)
        last_index = index
    if last_index < 0:
        raise ValidationFailed("The video has no pictures.", field=field)
    for packet in encoder.encode():
        target.mux(packet)


def _too_long(seconds: float, max_seconds: int) -> str:
    return f"The video lasts {seconds:.0f} s; the limit is {max_seconds} s."


def _one_of(names: list[str]) -> str:
    """"A, B or C"."""
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


def _output_fps(stream: Any) -> int:
    rate = stream.average_rate or stream.guessed_rate
    if not rate or rate <= 0:
        return VIDEO_DEFAULT_FPS
    return max(1, min(VIDEO_MAX_OUTPUT_FPS, round(float(rate))))


def _output_size(width: int, height: int) -> tuple[int, int]:
    """Scaled down (never up) to fit VIDEO_MAX_OUTPUT_SIDE; even sides, as yuv420p needs."""
    scale = min(1.0, VIDEO_MAX_OUTPUT_SIDE / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


PDF_MAX_PAGES = 50
PDF_MAX_OBJECTS = 100_000
# What a PDF may do besides show pages: any of it and the document is refused.
_PDF_ACTIVE_KEYS = {"/JS": "JavaScript", "/JavaScript": "JavaScript", "/EmbeddedFiles": "an embedded file",
                    "/EF": "an embedded file", "/XFA": "an XFA form", "/RichMediaContent": "rich media"}
_PDF_ACTIVE_ACTIONS = {"/JavaScript": "JavaScript", "/Launch": "a launch action", "/SubmitForm": "a form submission",
                       "/ImportData": "a data import", "/GoToE": "an embedded file",
                       "/RichMediaExecute": "rich media"}
_UNREADABLE_PDF = "This PDF is damaged or incomplete: it could not be read. Upload the original file or a scan."


def prepare_pdf(data: bytes, *, max_bytes: int, max_pages: int = PDF_MAX_PAGES, field: str = "file") -> bytes:
    """Check a PDF by content and write it anew from its parsed pages.

    The parser is strict; an encrypted document, one without pages or with more than
    `max_pages`, and one holding active content (JavaScript, launch actions, embedded
    files) is refused. Only the pages and what they reference are written out, so bytes
    the parser never reached (appended data, earlier revisions, document-level actions,
    metadata) do not survive.
    """
    from pypdf import PdfReader, PdfWriter

    _check_size(data, max_bytes, field)
    if not data.startswith(b"%PDF-"):
        raise ValidationFailed("This is not a PDF.", field=field)
    try:
        reader = PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            raise ValidationFailed("The PDF is encrypted or password-protected; upload an unprotected copy or a scan.",
                                   field=field)
        pages = len(reader.pages)
        if pages == 0:
            raise ValidationFailed("The PDF has no pages.", field=field)
        if pages > max_pages:
            raise ValidationFailed(f"The PDF has {pages} pages; the limit is {max_pages}.", field=field)
        active = _pdf_active_content(reader, field=field)
        if active is not None:
            raise ValidationFailed(f"The PDF holds {active}, which is not accepted: upload a plain PDF or a scan.",
                                   field=field)
        writer = PdfWriter()
        for page in reader.pages:
            writer.add_page(page)
        out = io.BytesIO()
        writer.write(out)
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001 - a parser that fails in any way has not proven the file a PDF
        raise ValidationFailed(_UNREADABLE_PDF, field=field) from None
    return out.getvalue()


def _pdf_active_content(reader: Any, *, field: str) -> str | None:
    """What active content the document holds (None when none): every object reachable
    from the trailer is visited once, however the objects refer to each other."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    seen: set[tuple[int, int]] = set()
    pending: list[Any] = [reader.trailer]
    visited = 0
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            if (item.idnum, item.generation) in seen:
                continue
            seen.add((item.idnum, item.generation))
            item = item.get_object()
        visited += 1
        if visited > PDF_MAX_OBJECTS:
            raise ValidationFailed("The PDF is too complex to process safely.", field=field)
        if isinstance(item, DictionaryObject):
            for key in item:
                if key in _PDF_ACTIVE_KEYS:
                    return _PDF_ACTIVE_KEYS[key]
            action = item.get("/S")
            action = action.get_object() if isinstance(action, IndirectObject) else action
            if isinstance(action, str) and action in _PDF_ACTIVE_ACTIONS:
                return _PDF_ACTIVE_ACTIONS[action]
            pending.extend(item.values())
        elif isinstance(item, ArrayObject):
            pending.extend(item)
    return None
