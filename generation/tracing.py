"""Verifying media against what Bespoke published: the manifest, the output an invisible
watermark leads to, and whether the consent behind it is in force today.

Provenance reads the media (manifest, watermark) and knows nothing of outputs; this is
where a reading meets the published outputs, for the verify page and `verify_media`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from consent import gate
from generation.selectors import output_by_watermark
from provenance.c2pa_io import IngredientReport, ManifestReport
from provenance.services import (
    manifest_read_bounded,
    verify_budget,
    watermark_read_bounded,
)
from provenance.verify_bounds import Deadline, VerifyBudget, VerifyWork


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
class IngredientVerification:
    """An ingredient of the file (a scene of a cut) and whether each consent behind it is in force today."""

    ingredient: IngredientReport
    consent: tuple[gate.ConsentStatus, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**self.ingredient.as_dict(), "consent_status": [status.as_dict() for status in self.consent]}


@dataclass(frozen=True)
class MediaVerification:
    manifest: ManifestReport
    consent: gate.ConsentStatus | None
    trace: OutputTrace | None = None
    work: VerifyWork | None = None
    ingredients: tuple[IngredientVerification, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"manifest": self.manifest.as_dict(), "consent": self.consent.as_dict() if self.consent else None,
                "trace": self.trace.as_dict() if self.trace else None,
                "work": self.work.as_dict() if self.work else None,
                "ingredients": [ingredient.as_dict() for ingredient in self.ingredients]}


def output_trace(*, path: Path, budget: VerifyBudget | None = None, deadline: Deadline | None = None,
                 work: VerifyWork | None = None) -> OutputTrace | None:
    """Find the published output a video or a PNG/JPEG still came from by its invisible watermark.

    Only the first frames of a video are decoded, a still only once its header is within
    ``budget``, both at reduced resolution; raises TooLargeToCheck beyond the budget.
    """
    budget = budget or verify_budget()
    reading = watermark_read_bounded(Path(path), budget=budget, deadline=deadline or Deadline(budget.seconds),
                                     work=work if work is not None else VerifyWork())
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


def media_verify(*, path: Path, budget: VerifyBudget | None = None,
                 deadline: Deadline | None = None) -> MediaVerification:
    """Is the file ours, is its manifest valid and trusted, and is its consent still in force?

    A video or still without a trusted manifest (stripped by re-encoding, or a screenshot
    of a frame, say) is traced through its watermark to the output it came from, and that
    output's consent is reported.
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
        report = manifest_read_bounded(path, is_video=is_video, budget=budget, deadline=deadline, work=work)
        trace = None
        if not report.is_trusted:
            trace = output_trace(path=path, budget=budget, deadline=deadline, work=work)
    finally:
        work.seconds = round(deadline.elapsed(), 4)
    # Only a trusted manifest, or our own watermark, may name the license whose status is shown:
    # anyone can write a manifest that points at a real license.
    vouched = report.consent.license_id if report.is_trusted and report.consent else None
    license_id = trace.license_id if trace else vouched
    status = gate.consent_status(license_id=license_id) if license_id else None
    return MediaVerification(manifest=report, consent=status, trace=trace, work=work,
                             ingredients=ingredient_verifications(report))


def ingredient_verifications(report: ManifestReport) -> tuple[IngredientVerification, ...]:
    """Each ingredient of ``report`` with the status today of every consent its manifest names.

    The rule of the file's own consent holds: only a trusted manifest, here the file's and
    the ingredient's both, may name the licenses whose status is shown.
    """
    return tuple(
        IngredientVerification(ingredient=ingredient, consent=tuple(
            gate.consent_status(license_id=reference.license_id) for reference in ingredient.consents)
            if report.is_trusted and ingredient.state == "trusted" else ())
        for ingredient in report.ingredients)
