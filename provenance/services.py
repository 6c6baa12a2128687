"""Labelling, watermarking, signing and verifying outputs (invariant 5), on top of the pure modules."""

from __future__ import annotations

import hashlib
import importlib
import logging
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from consent import gate
from generation.selectors import output_by_watermark, watermark_id_taken
from provenance import watermark
from provenance.c2pa_io import (
    ManifestReport,
    MediaReadError,
    SigningError,
    mime_type_for,
    read_file,
    read_stream,
    sign_file,
)
from provenance.labels import LabelSpec, burn_disclosure
from provenance.manifest import ConsentReference, GeneratorInfo, WatermarkBinding, build_manifest
from provenance.mp4_boxes import mp4_box_census
from provenance.pki import load_signing_material, load_trust_anchor
from provenance.signing import LocalKeySigner, ManifestSigner
from provenance.verify_bounds import Deadline, DeadlineReader, TooLargeToCheck, VerifyBudget, VerifyWork
from provenance.video_sample import video_frames_sample

logger = logging.getLogger(__name__)

GENERATOR_NAME = "Bespoke generator"
GENERATOR_VERSION = "0.1.0"


def disclosure_apply(frames: np.ndarray) -> tuple[np.ndarray, LabelSpec]:
    """Burn the visible AI-generated disclosure into every frame (EU AI Act Art. 50(4))."""
    return burn_disclosure(frames)


def watermark_id_new() -> int:
    """A fresh, unguessable, non-zero watermark id no published output carries yet."""
    for _ in range(32):
        candidate = secrets.randbits(watermark.PAYLOAD_BITS)
        if candidate and not watermark_id_taken(candidate):
            return candidate
    raise RuntimeError("could not find an unused watermark id")


def watermark_apply(frames: np.ndarray, *, watermark_id: int, fps: int) -> tuple[np.ndarray, WatermarkBinding]:
    """Embed the invisible watermark carrying ``watermark_id`` in every frame (EU AI Act Art. 50(2))."""
    marked = watermark.watermark_embed(frames, watermark_id, key=settings.BESPOKE_WATERMARK_KEY)
    binding = WatermarkBinding(algorithm=watermark.ALGORITHM, version=str(watermark.VERSION), watermark_id=watermark_id,
                               payload_bits=watermark.PAYLOAD_BITS, duration_ms=round(1000 * len(frames) / fps))
    return marked, binding


def dev_pki_signer() -> ManifestSigner:
    """The default signer: the key and chain in ``BESPOKE_PKI_DIR``."""
    return LocalKeySigner(load_signing_material(settings.BESPOKE_PKI_DIR))


def configured_signer() -> ManifestSigner:
    """The signer named by ``BESPOKE_SIGNER`` ("module:factory")."""
    module_name, _, attribute = settings.BESPOKE_SIGNER.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ImproperlyConfigured(f"BESPOKE_SIGNER={settings.BESPOKE_SIGNER!r} names no signer factory") from exc
    return factory()


@dataclass(frozen=True)
class SignedOutput:
    path: Path
    sha256: str
    size_bytes: int
    manifest_label: str
    time_stamped: bool
    compliance: dict[str, Any]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sign_with_time_stamp_policy(*, src: Path, dst: Path, manifest: dict[str, Any]) -> bool:
    """Sign, time-stamped when a TSA is configured. Returns whether the signature is time-stamped.

    An unreachable TSA must not stop publication unless ``BESPOKE_TSA_REQUIRED`` says so.
    """
    signer = configured_signer()
    tsa_url = settings.BESPOKE_TSA_URL
    try:
        sign_file(src=src, dst=dst, manifest=manifest, signer=signer, tsa_url=tsa_url)
        return bool(tsa_url)
    except SigningError as exc:
        if not tsa_url or settings.BESPOKE_TSA_REQUIRED:
            raise
        logger.warning("time-stamping through %s failed (%s); signing without a time-stamp", tsa_url, exc)
    sign_file(src=src, dst=dst, manifest=manifest, signer=signer, tsa_url=None)
    return False


def output_sign(*, src: Path, dst: Path, output_id: str, license_id: str, model_sha256: str,
                likeness_model_sha256: str | None, label: LabelSpec, watermark_binding: WatermarkBinding) -> SignedOutput:
    """Embed a signed C2PA manifest, then read it back: only a Trusted result is accepted.

    The returned compliance record says what was disclosed and how: it is kept with the
    output and included in exports.
    """
    reference = gate.consent_reference(license_id=license_id)
    consent = ConsentReference(reference.license_id, reference.license_text_sha256, reference.status_url)
    generator = GeneratorInfo(name=GENERATOR_NAME, version=GENERATOR_VERSION, model_sha256=model_sha256,
                              likeness_model_sha256=likeness_model_sha256)
    manifest = build_manifest(title=f"{output_id}.mp4", output_id=output_id, consent=consent, generator=generator,
                              label=label, claim_generator_version=GENERATOR_VERSION, watermark=watermark_binding)
    time_stamped = _sign_with_time_stamp_policy(src=src, dst=dst, manifest=manifest)
    report = read_file(dst, trust_anchor_pem=load_trust_anchor(settings.BESPOKE_PKI_DIR))
    if not report.is_trusted or report.output_id != output_id or report.watermark_id != watermark_binding.watermark_id:
        dst.unlink(missing_ok=True)
        raise SigningError(f"the signed output did not verify as trusted ({report.state}: {', '.join(report.failures)})")
    compliance = {
        "output_id": output_id,
        "visible_label": label.as_dict(),
        "watermark": {"algorithm": watermark_binding.algorithm, "version": watermark_binding.version,
                      "watermark_id": watermark_binding.watermark_id, "payload_bits": watermark_binding.payload_bits},
        "manifest": {"label": report.manifest_label, "signer": report.signer, "time_stamped": time_stamped,
                     "assertions": list(report.assertion_labels), "digital_source_type": report.digital_source_type},
        "consent": asdict(consent),
        "models": {"base_sha256": model_sha256, "likeness_model_sha256": likeness_model_sha256},
    }
    return SignedOutput(path=dst, sha256=file_sha256(dst), size_bytes=dst.stat().st_size,
                        manifest_label=report.manifest_label or "", time_stamped=time_stamped, compliance=compliance)


@dataclass(frozen=True)
class OutputTrace:
    """What the watermark led to: the published output and the facts its manifest carried."""

    watermark_id: int
    confidence: float
    output_id: str
    render_id: str
    manifest_label: str
    license_id: str
    published_at: str
    disclosure: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MediaVerification:
    manifest: ManifestReport
    consent: gate.ConsentStatus | None
    trace: OutputTrace | None = None
    work: VerifyWork | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"manifest": self.manifest.as_dict(), "consent": self.consent.as_dict() if self.consent else None,
                "trace": self.trace.as_dict() if self.trace else None,
                "work": self.work.as_dict() if self.work else None}


def output_trace(*, path: Path, budget: VerifyBudget | None = None, deadline: Deadline | None = None,
                 work: VerifyWork | None = None) -> OutputTrace | None:
    """Find the published output a video came from by its invisible watermark.

    Only the first frames are decoded, at reduced resolution and within ``budget``;
    raises TooLargeToCheck beyond it.
    """
    budget = budget or verify_budget()
    frames = video_frames_sample(Path(path), budget=budget, deadline=deadline or Deadline(budget.seconds),
                                 work=work if work is not None else VerifyWork())
    if frames is None:
        return None
    try:
        reading = watermark.watermark_read(frames, key=settings.BESPOKE_WATERMARK_KEY)
    except watermark.WatermarkError:
        return None
    if reading is None:
        return None
    output = output_by_watermark(watermark_id=reading.watermark_id)
    if output is None:
        return None
    return OutputTrace(watermark_id=reading.watermark_id, confidence=round(reading.confidence, 3),
                       output_id=str(output.id), render_id=str(output.job_id), manifest_label=output.manifest_label,
                       license_id=str(output.job.license_id), published_at=output.created_at.isoformat(),
                       disclosure=output.compliance or {"visible_label": output.disclosure})


def watermark_status(*, watermark_id: int) -> dict[str, Any]:
    """Whether the consent behind the output carrying ``watermark_id`` is in force today.

    Deliberately nothing more (no output, license or manifest id): the id space can be
    walked, and an upload on the verify page is how a holder of a copy learns the rest.
    """
    output = output_by_watermark(watermark_id=watermark_id)
    if output is None:
        return {"watermark_id": watermark_id, "state": "unknown", "since": None}
    status = gate.consent_status(license_id=str(output.job.license_id))
    return {"watermark_id": watermark_id, "state": status.state, "since": status.since}


def verify_budget() -> VerifyBudget:
    """The limits of one check, from ``BESPOKE_VERIFY_MAX_PIXELS`` and ``BESPOKE_VERIFY_MILLISECONDS``."""
    return VerifyBudget(max_pixels=settings.BESPOKE_VERIFY_MAX_PIXELS,
                        seconds=settings.BESPOKE_VERIFY_MILLISECONDS / 1000)


def media_verify(*, path: Path, budget: VerifyBudget | None = None,
                 deadline: Deadline | None = None) -> MediaVerification:
    """Is the file ours, is its manifest valid and trusted, and is its consent still in force?

    A video without a trusted manifest (stripped by re-encoding, say) is traced through its
    watermark to the output it came from, and that output's consent is reported.
    All of it within ``budget`` (by default the settings') and by ``deadline`` (by default
    the budget's seconds from now): a file beyond them raises TooLargeToCheck, which says
    what was done before the refusal; an unreadable one raises MediaReadError.
    """
    path = Path(path)
    budget = budget or verify_budget()
    deadline = deadline or Deadline(budget.seconds)
    work = VerifyWork()
    is_video = path.suffix.lower() == ".mp4"
    try:
        report = _manifest_read_bounded(path, is_video=is_video, budget=budget, deadline=deadline, work=work)
        trace = None
        if not report.is_trusted and is_video:
            trace = output_trace(path=path, budget=budget, deadline=deadline, work=work)
    finally:
        work.seconds = round(deadline.elapsed(), 4)
    # Only a trusted manifest, or our own watermark, may name the license whose status is shown:
    # anyone can write a manifest that points at a real license.
    vouched = report.consent.license_id if report.is_trusted and report.consent else None
    license_id = trace.license_id if trace else vouched
    status = gate.consent_status(license_id=license_id) if license_id else None
    return MediaVerification(manifest=report, consent=status, trace=trace, work=work)


def _manifest_read_bounded(path: Path, *, is_video: bool, budget: VerifyBudget, deadline: Deadline,
                           work: VerifyWork) -> ManifestReport:
    """The C2PA manifest report, read through a stream that stops at the deadline.

    An MP4's boxes are counted first: the C2PA reader's time grows with the square of
    their number, and FFmpeg indexes the sample tables in full when it opens a file.
    """
    with path.open("rb") as raw:
        if is_video:
            census = mp4_box_census(raw, size=path.stat().st_size, max_boxes=budget.max_boxes)
            work.boxes = census.boxes
            if census.over_limit:
                raise TooLargeToCheck("boxes", work)
            if census.sample_table_bytes > budget.max_moov_bytes:
                raise TooLargeToCheck("sample_tables", work)
            raw.seek(0)
        stream = DeadlineReader(raw, deadline)
        try:
            return read_stream(stream, mime_type=mime_type_for(path),
                               trust_anchor_pem=load_trust_anchor(settings.BESPOKE_PKI_DIR))
        except MediaReadError as exc:
            if stream.expired:
                raise TooLargeToCheck("time", work) from exc
            raise
        finally:
            work.manifest_bytes_read = stream.bytes_read
