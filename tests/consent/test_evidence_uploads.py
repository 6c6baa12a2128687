"""Evidence uploads are checked by content and re-encoded (invariant 6): a PDF is written
anew from its parsed pages, a video's pictures are encoded anew as H.264 MP4; anything
else is refused with a clear message and stores nothing (no row, no file, no event)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import av
import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from audit.models import AuditEvent
from core.errors import ValidationFailed
from consent import desk, uploads
from consent.models import IdentityEvidence, RepresentationEvidence
from tests.conftest import verify_identity
from tests.consent.clips import capture_clip, capture_clip_in_own_process
from tests.consent.evidence import authority_pdf, pdf_text

pytestmark = pytest.mark.django_db

SECRET_AUTHOR = "Zora Quill, 12 Harbour Lane"


# --- files ------------------------------------------------------------------------------------

def _with(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    """A copy of a PDF changed through pypdf's writer, as a hostile author would make it."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _action(kind: str, **entries: str) -> DictionaryObject:
    action = DictionaryObject({NameObject("/S"): NameObject(kind)})
    action.update({NameObject(f"/{key}"): TextStringObject(value) for key, value in entries.items()})
    return action


def _open_action(action: DictionaryObject):  # type: ignore[no-untyped-def]
    def change(writer: PdfWriter) -> None:
        writer._root_object[NameObject("/OpenAction")] = action

    return change


def _page_action(action: DictionaryObject):  # type: ignore[no-untyped-def]
    """An action on the page itself: it would travel with the page if only the catalog were dropped."""
    def change(writer: PdfWriter) -> None:
        writer.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): action})

    return change


def _pdf_with_metadata() -> bytes:
    def change(writer: PdfWriter) -> None:
        writer.add_metadata({"/Author": SECRET_AUTHOR})

    return _with(authority_pdf("Letters of administration"), change)


# --- fixtures and checks ------------------------------------------------------------------------

@pytest.fixture
def representation(personas, django_user_model):  # type: ignore[no-untyped-def]
    otto = django_user_model.objects.create_user(username="otto", password="pw-otto-agent")
    verify_identity(personas, personas.talent)
    return desk.representation_request(talent=personas.talent, representative=otto, kind="agent",
                                       acting_user=personas.alice)


@pytest.fixture
def verification(personas):  # type: ignore[no-untyped-def]
    return desk.identity_verification_request(talent=personas.talent, method="video_call", acting_user=personas.alice)


def _add_authority(representation, data: bytes):  # type: ignore[no-untyped-def]
    return desk.representation_evidence_add(representation=representation, kind="authority", data=data,
                                            filename="authority.pdf", acting_user=representation.representative)


def _add_capture(verification, data: bytes, personas):  # type: ignore[no-untyped-def]
    return desk.identity_evidence_add(verification=verification, kind="consent_capture", data=data,
                                      filename="capture.mp4", acting_user=personas.alice)


def _sealed_files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    root = Path(settings.MEDIA_ROOT)
    return list(root.rglob("*.sealed")) if root.exists() else []


def _assert_nothing_stored(settings) -> None:  # type: ignore[no-untyped-def]
    assert not IdentityEvidence.objects.exists() and not RepresentationEvidence.objects.exists()
    assert not _sealed_files(settings)
    assert not AuditEvent.objects.filter(action__endswith="evidence_added").exists()


# --- PDFs ----------------------------------------------------------------------------------------

def test_an_authority_pdf_is_stored_as_the_document_written_anew_not_the_uploaded_bytes(personas, representation):
    uploaded = _pdf_with_metadata() + b"\n%HIDDEN-AFTER-THE-END " + b"x" * 200 + b"\n"
    evidence = _add_authority(representation, uploaded)

    stored = desk.representation_evidence_open(evidence=evidence, acting_user=personas.frank)
    assert evidence.media_type == "application/pdf"
    assert stored != uploaded and stored.startswith(b"%PDF-")
    assert b"HIDDEN-AFTER-THE-END" not in stored, "bytes after the document do not survive"
    assert SECRET_AUTHOR.encode() not in stored, "the document's metadata does not survive"
    reread = PdfReader(io.BytesIO(stored), strict=True)
    assert len(reread.pages) == 1 and pdf_text(stored) == "Letters of administration"


def _fake_two_liner() -> bytes:
    return b"%PDF-1.4\n%%EOF"


def _encrypted() -> bytes:
    return _with(authority_pdf(), lambda writer: writer.encrypt("secret"))


def _embedded_file() -> bytes:
    return _with(authority_pdf(), lambda writer: writer.add_attachment("payload.exe", b"MZ..."))


@pytest.mark.parametrize("make, message", [
    (_fake_two_liner, "This PDF is damaged or incomplete"),
    (lambda: authority_pdf()[:600], "This PDF is damaged or incomplete"),
    (lambda: b"%PDF-1.7\n" + b"\x00" * 2000, "This PDF is damaged or incomplete"),
    (_encrypted, "encrypted or password-protected"),
    (lambda: _with(authority_pdf(), _open_action(_action("/JavaScript", JS="app.alert(1)"))), "holds JavaScript"),
    (lambda: _with(authority_pdf(), _page_action(_action("/JavaScript", JS="app.alert(1)"))), "holds JavaScript"),
    (lambda: _with(authority_pdf(), _page_action(_action("/Launch", F="calc.exe"))), "holds a launch action"),
    (_embedded_file, "holds an embedded file"),
    (lambda: authority_pdf(pages=51), "The PDF has 51 pages; the limit is 50."),
], ids=["two-line-fake", "truncated", "garbage-body", "encrypted", "javascript-on-open", "javascript-on-page",
        "launch", "embedded-file", "too-many-pages"])
def test_a_pdf_that_is_not_a_plain_readable_document_is_refused_and_stores_nothing(representation, settings, make,
                                                                                  message):
    with pytest.raises(ValidationFailed, match=message) as refused:
        _add_authority(representation, make())
    assert refused.value.field == "file"
    _assert_nothing_stored(settings)


def test_a_pdf_over_the_byte_limit_is_refused_before_it_is_parsed(representation, settings):
    settings.BESPOKE_EVIDENCE_MAX_BYTES = 1024
    with pytest.raises(ValidationFailed, match="the limit is"):
        _add_authority(representation, authority_pdf())
    _assert_nothing_stored(settings)


def test_a_pdf_is_accepted_only_as_an_authority_document(personas, representation, settings):
    with pytest.raises(ValidationFailed, match="Upload this as an image"):
        desk.representation_evidence_add(representation=representation, kind="id_document", data=authority_pdf(),
                                          filename="id.pdf", acting_user=representation.representative)
    _assert_nothing_stored(settings)


# --- videos --------------------------------------------------------------------------------------

def test_a_capture_video_is_re_encoded_as_a_bounded_h264_mp4_without_sound_or_metadata(personas, verification,
                                                                                     tmp_path):
    uploaded = capture_clip(tmp_path, width=1280, height=720, seconds=2, audio=True, title=SECRET_AUTHOR)
    evidence = _add_capture(verification, uploaded, personas)

    stored = desk.identity_evidence_open(evidence=evidence, acting_user=personas.frank)
    assert evidence.media_type == "video/mp4"
    assert stored != uploaded and SECRET_AUTHOR.encode() not in stored
    with av.open(io.BytesIO(stored)) as container:
        assert "mp4" in container.format.name and not container.metadata.get("title")
        assert len(container.streams.audio) == 0 and len(container.streams.video) == 1
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 404), "scaled to 720 px, even sides"
        frames = list(container.decode(video=0))
    assert 15 <= len(frames) <= 17, "two seconds at 8 frames a second"
    assert len({frame.to_ndarray(format="gray").tobytes() for frame in frames}) > 1, "the pictures survive"


# An encoder here for each accepted codec, and the container a phone would put it in.
ENCODERS = {"h264": ("libx264", "capture.mp4"), "hevc": ("libx265", "capture.mp4"), "vp8": ("libvpx", "capture.webm"),
            "vp9": ("libvpx-vp9", "capture.webm"), "av1": ("libsvtav1", "capture.mp4")}


@pytest.mark.parametrize("codec", sorted(uploads.VIDEO_CODECS))
def test_each_accepted_codec_is_named_and_decoded(tmp_path, codec):
    encoder, name = ENCODERS[codec]
    if encoder not in av.codecs_available:
        pytest.skip(f"this FFmpeg has no {encoder} encoder")
    prepared = uploads.prepare_video(capture_clip_in_own_process(tmp_path, width=64, height=64, seconds=1,
                                                                 codec=encoder, name=name),
                                     max_bytes=10_000_000, max_seconds=5)
    with av.open(io.BytesIO(prepared)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert uploads.VIDEO_CODECS[codec] in uploads.__doc__
    assert os.sched_getscheduler(0) == os.SCHED_OTHER, "an encoder left this thread with a real-time priority"


def test_a_refused_codec_is_answered_with_the_codecs_accepted(tmp_path):
    with pytest.raises(ValidationFailed) as refused:
        uploads.prepare_video(capture_clip(tmp_path, width=64, height=64, seconds=1, codec="mpeg4"), max_bytes=10_000_000,
                              max_seconds=5)
    assert refused.value.message == "The video codec mpeg4 is not accepted; record it as H.264, HEVC, VP8, VP9 or AV1."
    assert "H.264, HEVC, VP8, VP9 or AV1" in uploads.__doc__


def test_a_webm_capture_is_stored_as_mp4(personas, verification, tmp_path):
    uploaded = capture_clip(tmp_path, width=160, height=120, seconds=1, codec="libvpx-vp9", name="capture.webm")
    evidence = _add_capture(verification, uploaded, personas)
    stored = desk.identity_evidence_open(evidence=evidence, acting_user=personas.alice)
    with av.open(io.BytesIO(stored)) as container:
        assert "mp4" in container.format.name and container.streams.video[0].codec_context.name == "h264"
        assert (container.streams.video[0].width, container.streams.video[0].height) == (160, 120), "never scaled up"


@pytest.mark.parametrize("make, message", [
    (lambda tmp: b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4096, "This is not a readable MP4 or WebM video."),
    (lambda tmp: b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 16, "This is not a readable MP4 or WebM video."),
    (lambda tmp: capture_clip(tmp, width=64, height=64, seconds=3)[:2000], "This is not a readable MP4 or WebM video."),
    (lambda tmp: capture_clip(tmp, width=64, height=64, seconds=1, codec="mpeg4"),
     "The video codec mpeg4 is not accepted; record it as H.264, HEVC, VP8, VP9 or AV1."),
    (lambda tmp: capture_clip(tmp, width=64, height=64, seconds=3), "The video lasts 3 s; the limit is 2 s."),
    (lambda tmp: capture_clip(tmp, width=4096, height=2304, seconds=0.125), "the limit is 3840×2160"),
], ids=["ftyp-garbage", "ebml-garbage", "truncated", "mpeg4-codec", "too-long", "too-many-pixels"])
def test_a_video_that_is_not_a_short_readable_capture_is_refused_and_stores_nothing(personas, verification, settings,
                                                                                   tmp_path, make, message):
    settings.BESPOKE_EVIDENCE_MAX_SECONDS = 2
    with pytest.raises(ValidationFailed, match=message.replace(".", r"\.")) as refused:
        _add_capture(verification, make(tmp_path), personas)
    assert refused.value.field == "file"
    _assert_nothing_stored(settings)


def test_a_video_is_refused_where_the_evidence_must_be_an_image(personas, verification, settings, tmp_path):
    with pytest.raises(ValidationFailed, match="not a video"):
        desk.identity_evidence_add(verification=verification, kind="id_document",
                                   data=capture_clip(tmp_path, width=64, height=64, seconds=1), filename="id.mp4",
                                   acting_user=personas.alice)
    _assert_nothing_stored(settings)
