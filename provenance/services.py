"""Labelling, watermarking, signing and reading media (invariant 5), on top of the pure modules.

Nothing here knows about published outputs: finding the output a watermark leads to, and
the verify page and command built on it, live in generation (generation.tracing)."""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from consent import gate
from provenance import watermark
from provenance.c2pa_io import (
    ManifestReport,
    MediaReadError,
    SignedAsset,
    SigningError,
    mime_type_for,
    read_file,
    read_signed,
    read_stream,
    sign_file,
)
from provenance.cut import CutError
from provenance.labels import LabelSpec, burn_disclosure
from provenance.manifest import (
    ConsentReference,
    CutScene,
    GeneratorInfo,
    SourceOutput,
    WatermarkBinding,
    build_cut_manifest,
    build_manifest,
    cut_ingredient,
    source_ingredient,
)
from provenance.mp4_boxes import mp4_box_census
from provenance.pki import load_signing_material, load_trust_anchor
from provenance.signing import LocalKeySigner, ManifestSigner
from provenance.verify_bounds import (
    Deadline,
    DeadlineReader,
    TooLargeToCheck,
    VerifyBudget,
    VerifyWork,
)
from provenance.video_sample import video_frames_sample
from provenance.watermark_still import StillError, is_still, still_read

logger = logging.getLogger(__name__)

GENERATOR_NAME = "Bespoke generator"
GENERATOR_VERSION = "0.1.0"


def disclosure_apply(frames: np.ndarray) -> tuple[np.ndarray, LabelSpec]:
    """Burn the visible AI-generated disclosure into every frame (EU AI Act Art. 50(4))."""
    return burn_disclosure(frames)


def watermark_apply(frames: np.ndarray, *, watermark_id: int, fps: int,
                    algorithms: tuple[str, ...] | None = None) -> tuple[np.ndarray, WatermarkBinding]:
    """Embed the invisible watermark carrying ``watermark_id`` in every frame (EU AI Act Art. 50(2)),
    with the layers ``algorithms`` (by default those of a clip or a still, by the number of frames)."""
    algorithms = algorithms or watermark.embedding_algorithms(len(frames))
    marked = watermark.watermark_embed(frames, watermark_id, key=settings.BESPOKE_WATERMARK_KEY, algorithms=algorithms)
    binding = WatermarkBinding(algorithms=algorithms, versions=tuple(str(watermark.VERSIONS[a]) for a in algorithms),
                               watermark_id=watermark_id, payload_bits=watermark.PAYLOAD_BITS,
                               duration_ms=round(1000 * len(frames) / fps))
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


def _sign_with_time_stamp_policy(*, src: Path, dst: Path, manifest: dict[str, Any],
                                 ingredients: Sequence[tuple[dict[str, Any], Path]] = ()) -> tuple[SignedAsset, bool]:
    """Sign, time-stamped when a TSA is configured. Returns what was signed and whether it is time-stamped.

    An unreachable TSA must not stop publication unless ``BESPOKE_TSA_REQUIRED`` says so.
    """
    signer = configured_signer()
    tsa_url = settings.BESPOKE_TSA_URL
    # Ingredients are validated as they are added: against our anchor, so they record as trusted.
    anchor = load_trust_anchor(settings.BESPOKE_PKI_DIR) if ingredients else None
    options = {"manifest": manifest, "signer": signer, "ingredients": ingredients, "trust_anchor_pem": anchor}
    try:
        return sign_file(src=src, dst=dst, tsa_url=tsa_url, **options), bool(tsa_url)
    except SigningError as exc:
        if not tsa_url or settings.BESPOKE_TSA_REQUIRED:
            raise
        logger.warning("time-stamping through %s failed (%s); signing without a time-stamp", tsa_url, exc)
    return sign_file(src=src, dst=dst, tsa_url=None, **options), False


def output_sign(*, src: Path, dst: Path, output_id: str, license_id: str, model_sha256: str,
                likeness_model_sha256: str | None, label: LabelSpec, watermark_binding: WatermarkBinding,
                license_ids: Sequence[str] = (), likeness_model_sha256s: Sequence[str] = (),
                sources: Sequence[tuple[str, Path]] = (), thumbnail: bool = False) -> SignedOutput:
    """Embed a signed C2PA manifest, then read it back: only a Trusted result is accepted.

    ``dst`` names the format: an MP4 clip, or a PNG (``.png``), the one still of a keyframe;
    with ``thumbnail``, a JPEG (``.jpg``): the small still of the published output
    ``output_id`` that the portal shows, signed under that output's licenses and models.
    A scene played under several licenses names them all in ``license_ids`` (``license_id``
    first or not, it is listed first) and, when it loaded several likeness models, their
    hashes in ``likeness_model_sha256s``; the manifest's consent assertion then lists every
    license. ``sources`` are (relation, file) of the earlier outputs the render started
    from (provenance.manifest.CONTINUES: the clip whose last frame it continues;
    ANIMATES_KEYFRAME: the keyframe it animates): each must carry a trusted Bespoke manifest
    and becomes an ingredient of the new manifest, its own manifest kept inside. The returned
    compliance record says what was disclosed and how, and names each source under its
    relation: it is kept with the output and included in exports.
    """
    consents = [_consent_reference(ref) for ref in dict.fromkeys(str(ref) for ref in (license_id, *license_ids))]
    consent = consents[0]
    generator = GeneratorInfo(name=GENERATOR_NAME, version=GENERATOR_VERSION, model_sha256=model_sha256,
                              likeness_model_sha256=likeness_model_sha256,
                              likeness_model_sha256s=tuple(likeness_model_sha256s))
    earlier = [_source_output(relation, Path(path)) for relation, path in sources]
    ingredients = [(source_ingredient(source), Path(path)) for source, (_, path) in zip(earlier, sources, strict=True)]
    media_format = mime_type_for(Path(dst))
    title = f"{output_id}-thumbnail" if thumbnail else output_id
    manifest = build_manifest(title=f"{title}{Path(dst).suffix.lower()}", output_id=output_id, consent=consent,
                              generator=generator, label=label, claim_generator_version=GENERATOR_VERSION,
                              watermark=watermark_binding, other_consents=consents[1:], sources=earlier,
                              still=media_format != "video/mp4", thumbnail=thumbnail, media_format=media_format)
    signed, time_stamped = _sign_with_time_stamp_policy(src=src, dst=dst, manifest=manifest, ingredients=ingredients)
    report = read_signed(signed, trust_anchor_pem=load_trust_anchor(settings.BESPOKE_PKI_DIR))
    kept = [(ingredient.manifest_label, ingredient.state) for ingredient in report.ingredients]
    if not report.is_trusted or report.output_id != output_id or report.watermark_id != watermark_binding.watermark_id \
            or list(report.consents) != consents \
            or kept != [(source.manifest_label, "trusted") for source in earlier]:
        dst.unlink(missing_ok=True)
        raise SigningError(f"the signed output did not verify as trusted ({report.state}: {', '.join(report.failures)})")
    compliance = {
        "output_id": output_id,
        "visible_label": label.as_dict(),
        "watermark": {"algorithms": list(watermark_binding.algorithms), "versions": list(watermark_binding.versions),
                      "watermark_id": watermark_binding.watermark_id, "payload_bits": watermark_binding.payload_bits},
        "manifest": {"label": report.manifest_label, "signer": report.signer, "time_stamped": time_stamped,
                     "assertions": list(report.assertion_labels), "digital_source_type": report.digital_source_type},
        "consent": asdict(consent),
        "models": {"base_sha256": model_sha256, "likeness_model_sha256": likeness_model_sha256},
    }
    if len(consents) > 1:
        compliance["consents"] = [asdict(reference) for reference in consents]
    if likeness_model_sha256s:
        compliance["models"]["likeness_model_sha256s"] = list(likeness_model_sha256s)
    for source in earlier:
        compliance[source.relation] = {"output_id": source.output_id, "manifest_label": source.manifest_label}
    return _signed_output(signed, report, time_stamped=time_stamped, compliance=compliance)


def _source_output(relation: str, path: Path) -> SourceOutput:
    """An earlier output a render started from, as its trusted manifest names it; SigningError otherwise."""
    what = f"the output to start from ({path.name})"
    try:
        report = read_file(path, trust_anchor_pem=load_trust_anchor(settings.BESPOKE_PKI_DIR))
    except (MediaReadError, OSError) as exc:
        raise SigningError(f"{what} cannot be read: {exc}") from exc
    if not report.is_trusted or not report.output_id or not report.manifest_label:
        raise SigningError(f"{what} is not a trusted Bespoke output ({report.state})")
    return SourceOutput(relation=relation, title=report.title or path.name, output_id=report.output_id,
                        manifest_label=report.manifest_label, format=mime_type_for(path))


def _signed_output(signed: SignedAsset, report: ManifestReport, *, time_stamped: bool,
                   compliance: dict[str, Any]) -> SignedOutput:
    """The output as validated: its hash is that of the bytes written while signing."""
    return SignedOutput(path=signed.path, sha256=signed.written.sha256 or file_sha256(signed.path),
                        size_bytes=signed.written.size_bytes, manifest_label=report.manifest_label or "",
                        time_stamped=time_stamped, compliance=compliance)


def _consent_reference(license_id: str) -> ConsentReference:
    reference = gate.consent_reference(license_id=license_id)
    return ConsentReference(reference.license_id, reference.license_text_sha256, reference.status_url)


def cut_sign(*, src: Path, dst: Path, cut_id: str, scenes: Sequence[Path], choices: Sequence[str],
             title: str) -> SignedOutput:
    """Sign the cut ``src`` (the ``scenes`` joined by provenance.cut.concatenate_mp4) into ``dst``.

    Each scene must carry a trusted Bespoke manifest; it becomes a ``componentOf``
    ingredient, its own manifest and validation kept inside the cut's, and ``choices``
    (the viewer's, one between each two scenes, empty where there was none) go in order
    into the actions. No label or watermark is added: the frames are the scenes' own.
    Same signer and time-stamp policy as ``output_sign``; only a trusted read-back naming
    the same scenes is accepted.
    Raises CutError for scenes that are not trusted outputs or choices that do not fit
    between them, SigningError when signing fails.
    """
    anchor = load_trust_anchor(settings.BESPOKE_PKI_DIR)
    parts = [_cut_scene(Path(path), number, anchor) for number, path in enumerate(scenes, start=1)]
    try:
        manifest = build_cut_manifest(title=title, cut_id=cut_id, scenes=parts, choices=choices,
                                      claim_generator_version=GENERATOR_VERSION)
    except ValueError as exc:
        raise CutError(str(exc)) from exc
    signed, time_stamped = _sign_with_time_stamp_policy(
        src=src, dst=dst, manifest=manifest,
        ingredients=[(cut_ingredient(part), Path(path)) for part, path in zip(parts, scenes, strict=True)])
    report = read_signed(signed, trust_anchor_pem=anchor)
    placed = [ingredient.manifest_label for ingredient in report.ingredients if ingredient.state == "trusted"]
    if not report.is_trusted or report.cut_id != cut_id or placed != [part.manifest_label for part in parts]:
        dst.unlink(missing_ok=True)
        raise SigningError(f"the signed cut did not verify as trusted ({report.state}: {', '.join(report.failures)})")
    compliance = {
        "cut_id": cut_id,
        "scenes": [{"output_id": part.output_id, "manifest_label": part.manifest_label,
                    "license_ids": [reference.license_id for reference in part.consent]} for part in parts],
        "choices": list(choices),
        "manifest": {"label": report.manifest_label, "signer": report.signer, "time_stamped": time_stamped,
                     "assertions": list(report.assertion_labels), "digital_source_type": report.digital_source_type},
        "consent": [asdict(reference) for reference in report.consents],
    }
    return _signed_output(signed, report, time_stamped=time_stamped, compliance=compliance)


def _cut_scene(path: Path, number: int, anchor: str) -> CutScene:
    try:
        report = read_file(path, trust_anchor_pem=anchor)
    except (MediaReadError, OSError) as exc:
        raise CutError(f"scene {number} ({path.name}) cannot be read: {exc}") from exc
    if not report.is_trusted or not report.consents or not report.manifest_label:
        raise CutError(f"scene {number} ({path.name}) is not a trusted Bespoke output ({report.state})")
    return CutScene(ingredient_id=f"scene-{number}", title=report.title or path.name,
                    manifest_label=report.manifest_label, consent=report.consents, output_id=report.output_id)


def verify_budget() -> VerifyBudget:
    """The limits of one check, from ``BESPOKE_VERIFY_MAX_PIXELS`` and ``BESPOKE_VERIFY_MILLISECONDS``."""
    return VerifyBudget(max_pixels=settings.BESPOKE_VERIFY_MAX_PIXELS,
                        seconds=settings.BESPOKE_VERIFY_MILLISECONDS / 1000)


def watermark_read_bounded(path: Path, *, budget: VerifyBudget, deadline: Deadline,
                           work: VerifyWork) -> watermark.WatermarkReading | None:
    """The invisible watermark of a video or a PNG/JPEG still, or None when it carries none that can be read.

    Only the first frames of a video are decoded, and a still is checked by its header
    before it is decoded; both at reduced resolution and within ``budget``; raises
    TooLargeToCheck beyond it.
    """
    path = Path(path)
    if is_still(path):
        frames = _still_sample(path, budget=budget, deadline=deadline, work=work)
    else:
        frames = video_frames_sample(path, budget=budget, deadline=deadline, work=work)
    if frames is None:
        return None
    if deadline.expired():
        raise TooLargeToCheck("time", work)
    try:
        return watermark.watermark_read(frames, key=settings.BESPOKE_WATERMARK_KEY)
    except watermark.WatermarkError:
        return None


def _still_sample(path: Path, *, budget: VerifyBudget, deadline: Deadline, work: VerifyWork) -> np.ndarray | None:
    """The still at ``path`` as one frame at the reader's size, or None when it cannot be decoded."""
    if deadline.expired():
        raise TooLargeToCheck("time", work)
    try:
        frame, (width, height) = still_read(path, max_side=budget.max_side,
                                            max_pixels=min(budget.max_frame_pixels, watermark.MAX_STILL_PIXELS))
    except StillError as exc:
        if exc.reason != "unreadable":
            raise TooLargeToCheck(exc.reason, work) from exc
        return None
    work.frames_decoded, work.pixels_decoded = 1, width * height
    work.decoded_width, work.decoded_height = width, height
    work.read_height, work.read_width = frame.shape[:2]
    if min(frame.shape[:2]) < watermark.MIN_READ_SIDE:
        return None
    return frame[None]


def manifest_read_bounded(path: Path, *, is_video: bool, budget: VerifyBudget, deadline: Deadline,
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
