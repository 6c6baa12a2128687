"""Evidence files for the verification desk's tests: a synthetic face for the identity
document and the capture, and a small PDF for an authority document."""

from __future__ import annotations

import io

from bespoke.synthetic_faces import synthetic_face_photos

AUTHORITY_TEXT = "Letters of administration, court seal"


def authority_pdf(text: str = AUTHORITY_TEXT, *, pages: int = 1) -> bytes:
    """A real one-page (or longer) PDF, as a scanner or a word processor would make it."""
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    document = canvas.Canvas(out, invariant=1)
    for _ in range(pages):
        document.drawString(72, 720, text)
        document.showPage()
    document.save()
    return out.getvalue()


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text().strip() for page in PdfReader(io.BytesIO(data)).pages)


AUTHORITY_PDF = authority_pdf()


def evidence_files() -> dict[str, tuple[str, bytes]]:
    face, capture = synthetic_face_photos(2)
    return {"id_document": ("passport.jpg", face), "consent_capture": ("capture.jpg", capture),
            "authority": ("authority.pdf", AUTHORITY_PDF)}
