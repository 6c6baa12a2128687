"""Labelling, signing and verifying outputs (invariant 5), on top of the pure modules."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from consent import gate
from provenance.c2pa_io import ManifestReport, SigningError, read_file, sign_file
from provenance.labels import LabelSpec, burn_disclosure
from provenance.manifest import ConsentReference, GeneratorInfo, build_manifest
from provenance.pki import load_signing_material, load_trust_anchor

GENERATOR_NAME = "Bespoke generator"
GENERATOR_VERSION = "0.1.0"


def disclosure_apply(frames: np.ndarray) -> tuple[np.ndarray, LabelSpec]:
    """Burn the visible AI-generated disclosure into every frame (EU AI Act Art. 50(4))."""
    return burn_disclosure(frames)


@dataclass(frozen=True)
class SignedOutput:
    path: Path
    sha256: str
    size_bytes: int
    manifest_label: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def output_sign(*, src: Path, dst: Path, output_id: str, license_id: str, model_sha256: str, label: LabelSpec) -> SignedOutput:
    """Embed a signed C2PA manifest, then read it back: only a Trusted result is accepted."""
    reference = gate.consent_reference(license_id=license_id)
    manifest = build_manifest(
        title=f"{output_id}.mp4",
        output_id=output_id,
        consent=ConsentReference(reference.license_id, reference.license_text_sha256, reference.status_url),
        generator=GeneratorInfo(name=GENERATOR_NAME, version=GENERATOR_VERSION, model_sha256=model_sha256),
        label=label,
        claim_generator_version=GENERATOR_VERSION,
    )
    sign_file(src=src, dst=dst, manifest=manifest, signing=load_signing_material(settings.BESPOKE_PKI_DIR, tsa_url=settings.BESPOKE_TSA_URL))
    report = read_file(dst, trust_anchor_pem=load_trust_anchor(settings.BESPOKE_PKI_DIR))
    if not report.is_trusted or report.output_id != output_id:
        dst.unlink(missing_ok=True)
        raise SigningError(f"the signed output did not verify as trusted ({report.state}: {', '.join(report.failures)})")
    return SignedOutput(path=dst, sha256=file_sha256(dst), size_bytes=dst.stat().st_size,
                        manifest_label=report.manifest_label or "")


@dataclass(frozen=True)
class MediaVerification:
    manifest: ManifestReport
    consent: gate.ConsentStatus | None

    def as_dict(self) -> dict[str, Any]:
        return {"manifest": self.manifest.as_dict(), "consent": self.consent.as_dict() if self.consent else None}


def media_verify(*, path: Path) -> MediaVerification:
    """Is the file ours, is its manifest valid and trusted, and is its consent still in force?"""
    report = read_file(Path(path), trust_anchor_pem=load_trust_anchor(settings.BESPOKE_PKI_DIR))
    status = None
    if report.consent is not None and report.state != "no_manifest":
        status = gate.consent_status(license_id=report.consent.license_id)
    return MediaVerification(manifest=report, consent=status)
