"""Sign media with a C2PA manifest and read it back.

Every c2pa Context built here disables remote manifest fetching and OCSP, so
neither signing nor verification makes network calls other than to a
configured timestamp authority.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from c2pa import Builder, C2paError, Context, Reader, Signer

from provenance.hashing_writer import HashingWriter, WrittenDigest
from provenance.manifest import (
    CHOICE_PARAMETER,
    CONSENT_ASSERTION_LABEL,
    CUT_ASSERTION_LABEL,
    OUTPUT_ASSERTION_LABEL,
    SOFT_BINDING_LABEL,
    ConsentReference,
)
from provenance.signing import ManifestSigner

_OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}
_STATES = {"Trusted": "trusted", "Valid": "valid", "Invalid": "invalid"}
_MIME_BY_SUFFIX = {
    ".mp4": "video/mp4",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
_ACTIONS_LABELS = ("c2pa.actions.v2", "c2pa.actions")
# The only failure that leaves a manifest intact: its signer is not among the trust anchors.
_UNTRUSTED_ONLY = {"signingCredential.untrusted"}
# A manifest store read without the media it is bound to reports its hard binding as not matching.
_HARD_BINDING_MISMATCHES = {"assertion.bmffHash.mismatch", "assertion.dataHash.mismatch",
                            "assertion.boxesHash.mismatch"}
# How c2pa reports a signature's RFC 3161 time-stamp, most trusted first (informational codes
# such as timeStamp.untrusted or timeStamp.mismatch say why a stamp fell short).
_TIME_STAMP_TRUSTED, _TIME_STAMP_VALIDATED = "timeStamp.trusted", "timeStamp.validated"
# A signed file up to this size is kept in memory as it is written and validated from there.
IN_MEMORY_VALIDATION_BYTES = 2 << 20


class SigningError(Exception):
    """A manifest could not be signed into a file."""


class MediaReadError(Exception):
    """A file could not be parsed as media of the expected type."""


@dataclass(frozen=True)
class SignedAsset:
    """A file ``sign_file`` wrote: the manifest store c2pa embedded in it and what was written."""

    path: Path
    mime_type: str
    manifest_store: bytes
    written: WrittenDigest


@dataclass(frozen=True)
class IngredientReport:
    """One ingredient of a manifest (a scene of a cut) and what its own manifest says.

    ``state`` is the ingredient manifest's validation as this read sees it: ``"trusted"``,
    ``"valid"`` (intact, signer not trusted), ``"invalid"`` or ``"no_manifest"``.
    ``choice`` is the viewer's choice that placed it, when the placing action names one.
    """

    title: str | None
    relationship: str | None
    manifest_label: str | None
    state: str
    failures: tuple[str, ...] = ()
    consents: tuple[ConsentReference, ...] = ()
    output_id: str | None = None
    watermark_id: int | None = None
    choice: str | None = None

    @property
    def validated(self) -> bool:
        return self.state in ("trusted", "valid")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failures": list(self.failures), "consents": [asdict(ref) for ref in self.consents],
                "validated": self.validated}


@dataclass(frozen=True)
class TimeStampReport:
    """The RFC 3161 time-stamp on a manifest's signature, as c2pa validated it.

    ``state`` is ``"trusted"`` (it matches the signature and its authority chains to a trust
    anchor), ``"valid"`` (it matches, but its authority is not trusted) or ``"invalid"``.
    ``authority`` is the common name (or organisation) of the authority's certificate;
    ``codes`` are c2pa's ``timeStamp.*`` validation codes.
    """

    time: str | None
    authority: str | None
    state: str
    codes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "codes": list(self.codes)}


@dataclass(frozen=True)
class ManifestReport:
    """The validated content of a file's active C2PA manifest.

    ``state`` is ``"no_manifest"``, ``"invalid"``, ``"valid"`` (intact and
    well-signed, but not by a trusted signer) or ``"trusted"``. ``signed_at``
    is set only when the signature carries a timestamp-authority time; ``time_stamp``
    then says which authority stamped it and how its stamp validated.
    """

    state: str
    failures: tuple[str, ...] = ()
    title: str | None = None
    output_id: str | None = None
    consent: ConsentReference | None = None
    assertion_labels: tuple[str, ...] = ()
    signer: str | None = None
    signed_at: str | None = None
    manifest_label: str | None = None
    digital_source_type: str | None = None
    disclosure: dict[str, Any] | None = None
    watermark_id: int | None = None
    cut_id: str | None = None
    # Every consent reference: an output's one license, or each license behind a cut.
    consents: tuple[ConsentReference, ...] = ()
    ingredients: tuple[IngredientReport, ...] = ()
    time_stamp: TimeStampReport | None = None

    @property
    def is_trusted(self) -> bool:
        return self.state == "trusted"

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form of the report."""
        return {
            "state": self.state,
            "failures": list(self.failures),
            "title": self.title,
            "output_id": self.output_id,
            "consent": None if self.consent is None else asdict(self.consent),
            "assertion_labels": list(self.assertion_labels),
            "signer": self.signer,
            "signed_at": self.signed_at,
            "manifest_label": self.manifest_label,
            "digital_source_type": self.digital_source_type,
            "disclosure": None if self.disclosure is None else dict(self.disclosure),
            "watermark_id": self.watermark_id,
            "cut_id": self.cut_id,
            "consents": [asdict(reference) for reference in self.consents],
            "ingredients": [ingredient.as_dict() for ingredient in self.ingredients],
            "time_stamp": None if self.time_stamp is None else self.time_stamp.as_dict(),
        }


def sign_file(
    *,
    src: Path,
    dst: Path,
    manifest: dict[str, Any],
    signer: ManifestSigner,
    tsa_url: str | None = None,
    mime_type: str | None = None,
    ingredients: Sequence[tuple[dict[str, Any], Path]] = (),
    trust_anchor_pem: str | None = None,
) -> SignedAsset:
    """Embed ``manifest``, signed by ``signer``, into a copy of ``src`` written to ``dst``.

    With ``tsa_url`` the signature carries an RFC 3161 time-stamp from that authority.
    ``ingredients`` are (ingredient definition, file) pairs: each file's own manifest store
    goes into the new one, with its validation as seen against ``trust_anchor_pem``.
    Raises ``SigningError`` on any failure; ``dst`` is then absent.
    """
    if Path(dst).resolve() == Path(src).resolve():
        raise SigningError(f"refusing to sign {src} in place; dst must be another path")
    mime_type = mime_type or _mime_from_suffix(Path(dst))
    settings: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}, "verify": _OFFLINE}
    if trust_anchor_pem:
        settings["trust"] = {"user_anchors": trust_anchor_pem}
    try:
        with (
            signer.c2pa_signer(tsa_url=tsa_url) as c2pa_signer,
            Context.from_dict(settings) as context,
            Builder(manifest, context) as builder,
            open(src, "rb") as source,
        ):
            for definition, path in ingredients:
                with open(path, "rb") as ingredient:
                    builder.add_ingredient(definition, _mime_from_suffix(Path(path)), ingredient)
            store, written = _sign_into(builder, c2pa_signer, mime_type, source, Path(dst))
    except (C2paError, OSError, ValueError, MediaReadError) as exc:
        raise SigningError(f"could not sign {src} into {dst}: {exc}") from exc
    return SignedAsset(path=Path(dst), mime_type=mime_type, manifest_store=store, written=written)


def read_file(
    path: Path, *, trust_anchor_pem: str, mime_type: str | None = None
) -> ManifestReport:
    """Validate the C2PA manifest of ``path`` against ``trust_anchor_pem``.

    The MIME type is taken from the extension (.mp4, .png, .jpg/.jpeg) unless
    given. A file without a manifest yields state ``"no_manifest"``. Raises
    ``MediaReadError`` when the file cannot be parsed as that type of media
    (for example a text file named ``.mp4``), ``FileNotFoundError`` when it is
    missing.
    """
    path = Path(path)
    mime = mime_type or _mime_from_suffix(path)
    with open(path, "rb") as stream:
        try:
            return read_stream(stream, mime_type=mime, trust_anchor_pem=trust_anchor_pem)
        except MediaReadError as exc:
            raise MediaReadError(f"could not read {path} as {mime}: {exc}") from exc


def read_stream(stream: IO[bytes], *, mime_type: str, trust_anchor_pem: str) -> ManifestReport:
    """``read_file`` for an open binary stream; its MediaReadError names no file."""
    settings = {"trust": {"user_anchors": trust_anchor_pem}, "verify": _OFFLINE}
    with Context.from_dict(settings) as context:
        try:
            reader = Reader.try_create(mime_type, stream, context=context)
            if reader is None:
                return ManifestReport(state="no_manifest")
            with reader:
                store = json.loads(reader.json())
                authority = _time_stamp_authority(reader, store)
        except C2paError as exc:
            raise MediaReadError(str(exc)) from exc
    return _report_from_store(store, time_stamp_authority=authority)


def read_signed(asset: SignedAsset, *, trust_anchor_pem: str) -> ManifestReport:
    """Validate a file ``sign_file`` just wrote, reading it again only where nothing else will do.

    A file kept whole in memory while written (up to ``IN_MEMORY_VALIDATION_BYTES``) is
    validated from there exactly as ``read_file`` would. For a larger one, the manifest store
    c2pa returned is validated (claim signature, trust, content) and must be the very bytes the
    file carries in its first ``IN_MEMORY_VALIDATION_BYTES``; the store's hash of the media
    was computed by c2pa from the source in the same pass that wrote the file. When the
    writes were not one forward pass, or the store is not found there, the file is read back.
    """
    written = asset.written
    if written.sha256 is not None and written.head_is_whole:
        return read_stream(io.BytesIO(written.head), mime_type=asset.mime_type, trust_anchor_pem=trust_anchor_pem)
    if written.sha256 is not None and asset.manifest_store and asset.manifest_store in written.head:
        return _read_store_alone(asset.manifest_store, trust_anchor_pem=trust_anchor_pem)
    return read_file(asset.path, trust_anchor_pem=trust_anchor_pem, mime_type=asset.mime_type)


def _read_store_alone(store_bytes: bytes, *, trust_anchor_pem: str) -> ManifestReport:
    """The report of a manifest store read on its own, its (unavoidable) hard-binding mismatch left out."""
    settings = {"trust": {"user_anchors": trust_anchor_pem}, "verify": _OFFLINE}
    with Context.from_dict(settings) as context:
        try:
            with Reader("application/c2pa", io.BytesIO(store_bytes), context=context) as reader:
                store = json.loads(reader.json())
                authority = _time_stamp_authority(reader, store)
        except C2paError as exc:
            raise MediaReadError(str(exc)) from exc
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    failures = [entry for entry in active.get("failure") or [] if entry.get("code") not in _HARD_BINDING_MISMATCHES]
    active = {**active, "failure": failures}
    state, _ = _ingredient_validation({"activeManifest": active}, None, has_manifest=True)
    store["validation_state"] = {"trusted": "Trusted", "valid": "Valid"}.get(state, "Invalid")
    store["validation_results"] = {**results, "activeManifest": active}
    return _report_from_store(store, time_stamp_authority=authority)


def _sign_into(
    builder: Builder, signer: Signer, mime_type: str, source: IO[bytes], dst: Path
) -> tuple[bytes, WrittenDigest]:
    """Write the signed asset to ``dst``, hashing it on the way; remove it if signing fails part-way."""
    try:
        with open(dst, "w+b") as dest:
            writer = HashingWriter(dest, head_limit=IN_MEMORY_VALIDATION_BYTES)
            try:
                store = builder.sign(signer, mime_type, source, writer)
                return store, writer.finish()
            finally:
                writer.abandon()
    except BaseException:
        dst.unlink(missing_ok=True)
        raise


def mime_type_for(path: Path) -> str:
    """The MIME type of media from its extension (.mp4, .png, .jpg/.jpeg); MediaReadError otherwise."""
    return _mime_from_suffix(path)


def _mime_from_suffix(path: Path) -> str:
    try:
        return _MIME_BY_SUFFIX[path.suffix.lower()]
    except KeyError:
        raise MediaReadError(f"cannot tell the media type of {path.name}; pass mime_type") from None


def _report_from_store(store: dict[str, Any], *, time_stamp_authority: str | None = None) -> ManifestReport:
    label = store["active_manifest"]
    manifest = store["manifests"][label]
    assertion_list = manifest.get("assertions", [])
    assertions = {a["label"]: a.get("data") for a in assertion_list}
    output = assertions.get(OUTPUT_ASSERTION_LABEL) or {}
    signature = manifest.get("signature_info") or {}
    failures = store.get("validation_results", {}).get("activeManifest", {}).get("failure", [])
    return ManifestReport(
        # An unknown state from a newer SDK must never read as valid.
        state=_STATES.get(store.get("validation_state"), "invalid"),
        failures=tuple(f["code"] for f in failures),
        title=manifest.get("title"),
        output_id=output.get("output_id"),
        consent=_parse_consent(assertions.get(CONSENT_ASSERTION_LABEL)),
        assertion_labels=tuple(a["label"] for a in assertion_list),
        signer=signature.get("common_name") or signature.get("issuer"),
        signed_at=signature.get("time"),
        manifest_label=label,
        digital_source_type=_created_source_type(assertions),
        disclosure=output.get("disclosure"),
        watermark_id=_soft_binding_value(assertions.get(SOFT_BINDING_LABEL)),
        cut_id=(assertions.get(CUT_ASSERTION_LABEL) or {}).get("cut_id"),
        consents=_parse_consents(assertions.get(CONSENT_ASSERTION_LABEL)),
        ingredients=_ingredient_reports(store, manifest, assertions),
        time_stamp=_time_stamp_report(store, signature, time_stamp_authority),
    )


def _time_stamp_report(store: dict[str, Any], signature: dict[str, Any],
                       authority: str | None) -> TimeStampReport | None:
    """The active manifest's time-stamp, or None when its signature carries none."""
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    codes = {kind: [str(entry.get("code", "")) for entry in results.get(kind) or []]
             for kind in ("success", "informational", "failure")}
    stamp_codes = tuple(code for kind in codes.values() for code in kind if code.startswith("timeStamp."))
    if not signature.get("time") and not stamp_codes:
        return None
    if _TIME_STAMP_TRUSTED in codes["success"]:
        state = "trusted"
    elif _TIME_STAMP_VALIDATED in codes["success"]:
        state = "valid"
    else:
        state = "invalid"
    return TimeStampReport(time=signature.get("time"), authority=authority, state=state, codes=stamp_codes)


def _time_stamp_authority(reader: Reader, store: dict[str, Any]) -> str | None:
    """Who time-stamped the active manifest: its authority certificate's common name (or organisation).

    Only c2pa's crJSON form names the authority; it is asked for only when there is a time-stamp.
    """
    label = store.get("active_manifest")
    if not label or not ((store.get("manifests") or {}).get(label, {}).get("signature_info") or {}).get("time"):
        return None
    try:
        document = json.loads(reader.crjson())
    except (C2paError, ValueError):
        return None
    for manifest in document.get("manifests") or []:
        if isinstance(manifest, dict) and manifest.get("label") == label:
            info = ((manifest.get("signature") or {}).get("timeStampInfo") or {}).get("certificateInfo") or {}
            subject = info.get("subject") or {}
            name = subject.get("CN") or subject.get("O")
            return str(name) if name else None
    return None


def _ingredient_reports(store: dict[str, Any], manifest: dict[str, Any],
                        assertions: dict[str, Any]) -> tuple[IngredientReport, ...]:
    deltas = {delta.get("ingredientAssertionURI", ""): delta.get("validationDeltas") or {}
              for delta in (store.get("validation_results") or {}).get("ingredientDeltas", [])}
    choices = _choices_by_ingredient(assertions)
    reports = []
    for ingredient in manifest.get("ingredients", []):
        label = ingredient.get("label") or ""
        manifest_label = ingredient.get("active_manifest")
        own = store["manifests"].get(manifest_label) if manifest_label else None
        own_assertions = {a["label"]: a.get("data") for a in (own or {}).get("assertions", [])}
        delta = deltas.get(f"self#jumbf=/c2pa/{store['active_manifest']}/c2pa.assertions/{label}")
        state, failures = _ingredient_validation(ingredient.get("validation_results"), delta, own is not None)
        reports.append(IngredientReport(
            title=ingredient.get("title"),
            relationship=ingredient.get("relationship"),
            manifest_label=manifest_label,
            state=state,
            failures=failures,
            consents=_parse_consents(own_assertions.get(CONSENT_ASSERTION_LABEL)),
            output_id=(own_assertions.get(OUTPUT_ASSERTION_LABEL) or {}).get("output_id"),
            watermark_id=_soft_binding_value(own_assertions.get(SOFT_BINDING_LABEL)),
            choice=choices.get(label),
        ))
    return tuple(reports)


def _ingredient_validation(recorded: Any, delta: dict[str, Any] | None,
                           has_manifest: bool) -> tuple[str, tuple[str, ...]]:
    """The ingredient's state: its results recorded at signing, updated by this read's deltas.

    A delta re-reports whole aspects (the signing credential, the ingredient's hash...): a
    recorded code of an aspect the delta speaks of is replaced by what the delta says.
    """
    if not has_manifest:
        return "no_manifest", ()
    recorded = (recorded or {}).get("activeManifest") or {}
    entries = {kind: list(recorded.get(kind) or []) for kind in ("success", "failure")}
    if delta:
        aspects = {_aspect(entry) for kind in ("success", "informational", "failure")
                   for entry in delta.get(kind) or []}
        for kind in entries:
            entries[kind] = [e for e in entries[kind] if _aspect(e) not in aspects] + list(delta.get(kind) or [])
    failures = tuple(entry.get("code", "") for entry in entries["failure"])
    successes = {entry.get("code") for entry in entries["success"]}
    if set(failures) - _UNTRUSTED_ONLY or "claimSignature.validated" not in successes:
        return "invalid", failures
    if failures or "signingCredential.trusted" not in successes:
        return "valid", failures
    return "trusted", ()


def _aspect(entry: dict[str, Any]) -> str:
    return str(entry.get("code", "")).split(".", 1)[0]


def _choices_by_ingredient(assertions: dict[str, Any]) -> dict[str, str]:
    """The choice each placing action names, by the label of the ingredient it placed."""
    choices = {}
    for label in _ACTIONS_LABELS:
        for action in (assertions.get(label) or {}).get("actions", []):
            parameters = action.get("parameters") or {}
            choice = parameters.get(CHOICE_PARAMETER)
            if action.get("action") != "c2pa.placed" or not isinstance(choice, str):
                continue
            for link in parameters.get("ingredients") or [parameters.get("ingredient") or {}]:
                url = str((link or {}).get("url", ""))
                if "c2pa.assertions/" in url:
                    choices[url.rsplit("c2pa.assertions/", 1)[1]] = choice
    return choices


def _parse_consents(data: Any) -> tuple[ConsentReference, ...]:
    """The consent references of an output (one license) or of a cut (a list of them)."""
    if isinstance(data, dict) and isinstance(data.get("licenses"), list):
        references = (_parse_consent(entry) for entry in data["licenses"])
        return tuple(ref for ref in references if ref is not None)
    single = _parse_consent(data)
    return () if single is None else (single,)


def _parse_consent(data: Any) -> ConsentReference | None:
    """The consent reference, or None when the assertion is absent or malformed."""
    try:
        return ConsentReference(
            license_id=data["license_id"],
            license_text_sha256=data["license_text_sha256"],
            status_url=data["status_url"],
        )
    except (KeyError, TypeError, ValueError):
        return None


def _created_source_type(assertions: dict[str, Any]) -> str | None:
    for label in _ACTIONS_LABELS:
        for action in (assertions.get(label) or {}).get("actions", []):
            if action.get("action") == "c2pa.created":
                return action.get("digitalSourceType")
    return None


def _soft_binding_value(data: Any) -> int | None:
    """The watermark id a soft-binding assertion declares (its first block's value)."""
    try:
        value = data["blocks"][0]["value"]
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else bytes(value)
    except (KeyError, IndexError, TypeError, ValueError, binascii.Error):
        return None
    return int.from_bytes(raw, "big") if raw else None
