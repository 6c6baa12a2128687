"""Evidence files for the verification desk's tests: a synthetic face for the identity
document and the capture, and a small PDF for an authority document."""

from __future__ import annotations

from bespoke.synthetic_faces import synthetic_face_photos

AUTHORITY_PDF = b"%PDF-1.7\n% letters of administration, court seal\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def evidence_files() -> dict[str, tuple[str, bytes]]:
    face, capture = synthetic_face_photos(2)
    return {"id_document": ("passport.jpg", face), "consent_capture": ("capture.jpg", capture),
            "authority": ("authority.pdf", AUTHORITY_PDF)}
