"""C2PA manifest definitions for Bespoke renders and the cuts assembled from them.

Manifests are public: they carry pseudonymous references (licence id, hashes,
a status URL) and never a person's name or other personal data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provenance.labels import LabelSpec

IPTC_TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
)
IPTC_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)
CONSENT_ASSERTION_LABEL = "com.bespoke.consent"
OUTPUT_ASSERTION_LABEL = "com.bespoke.output"
OUTPUT_ID_PARAMETER = "com.bespoke.output_id"
MODEL_SHA256_PARAMETER = "com.bespoke.model_sha256"
LIKENESS_MODEL_SHA256_PARAMETER = "com.bespoke.likeness_model_sha256"
LIKENESS_MODEL_SHA256S_PARAMETER = "com.bespoke.likeness_model_sha256s"
WATERMARK_ID_PARAMETER = "com.bespoke.watermark_id"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
CUT_ASSERTION_LABEL = "com.bespoke.cut"
CUT_ID_PARAMETER = "com.bespoke.cut_id"
CHOICE_PARAMETER = "com.bespoke.choice"
CONTINUES_PARAMETER = "com.bespoke.continues_output_id"
KEYFRAME_PARAMETER = "com.bespoke.keyframe_output_id"
CONSENT_SCOPE = "likeness.video.generation"
CLAIM_GENERATOR_NAME = "Bespoke"

_TRAINING_MINING_ENTRIES = (
    "cawg.ai_generative_training",
    "cawg.ai_training",
    "cawg.ai_inference",
    "cawg.data_mining",
)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ConsentReference:
    """Pseudonymous pointer to the licence that authorised a render."""

    license_id: str
    license_text_sha256: str
    status_url: str

    def __post_init__(self) -> None:
        _require_sha256("license_text_sha256", self.license_text_sha256)


@dataclass(frozen=True)
class GeneratorInfo:
    """The generating software and hashes identifying the models it ran (never their names)."""

    name: str
    version: str
    model_sha256: str
    likeness_model_sha256: str | None = None
    # Every likeness model's hash when a scene loaded several (likeness_model_sha256 is the first).
    likeness_model_sha256s: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require_sha256("model_sha256", self.model_sha256)
        if self.likeness_model_sha256 is not None:
            _require_sha256("likeness_model_sha256", self.likeness_model_sha256)
        for digest in self.likeness_model_sha256s:
            _require_sha256("likeness_model_sha256s", digest)

    def software_agent(self) -> dict[str, str]:
        agent = {"name": self.name, "version": self.version, MODEL_SHA256_PARAMETER: self.model_sha256}
        if self.likeness_model_sha256:
            agent[LIKENESS_MODEL_SHA256_PARAMETER] = self.likeness_model_sha256
        return agent


@dataclass(frozen=True)
class WatermarkBinding:
    """The invisible watermark embedded in every frame: one layer per algorithm (a clip
    carries two), each declared as a C2PA soft binding with the same watermark id."""

    algorithms: tuple[str, ...]
    versions: tuple[str, ...]  # each algorithm's watermark version
    watermark_id: int
    payload_bits: int
    duration_ms: int

    def __post_init__(self) -> None:
        if not 0 <= self.watermark_id < 2**self.payload_bits:
            raise ValueError(f"watermark_id must fit in {self.payload_bits} bits")
        if not self.algorithms or len(self.algorithms) != len(self.versions):
            raise ValueError("a watermark binding needs one version for each of its algorithms")

    @property
    def value(self) -> bytes:
        return self.watermark_id.to_bytes((self.payload_bits + 7) // 8, "big")


def build_manifest(
    *,
    title: str,
    output_id: str,
    consent: ConsentReference,
    generator: GeneratorInfo,
    label: LabelSpec,
    claim_generator_version: str,
    watermark: WatermarkBinding | None = None,
    other_consents: Sequence[ConsentReference] = (),
    sources: Sequence[SourceOutput] = (),
    still: bool = False,
    thumbnail: bool = False,
    media_format: str | None = None,
) -> dict[str, Any]:
    """Manifest definition for a rendered MP4 (or, with ``still``, a keyframe's PNG; with
    ``thumbnail``, the small still of a published output that the portal shows), ready for a
    c2pa ``Builder``. ``media_format`` is the file's MIME type where it is not the default
    (video/mp4, or image/png for a still).

    With ``watermark``, a ``c2pa.watermarked`` action and the ``c2pa.soft-binding``
    assertion the specification requires with it, one for each layer of the mark, are added. ``other_consents`` are the
    further licenses of a scene played under several: the consent assertion then lists
    them all after ``consent``. ``sources`` are the earlier outputs the model started from
    (the clip a scene continues, the keyframe a clip animates); each is added to the builder
    as an ingredient (``source_ingredient``).
    """
    still = still or thumbnail
    actions = [
        _created_action(output_id, generator, sources, still=still, thumbnail=thumbnail),
        _disclosure_action(label, claim_generator_version, still=still),
        *([_watermarked_action(watermark, claim_generator_version, still=still)] if watermark else []),
    ]
    bindings = [_soft_binding_assertion(watermark, algorithm, still=still)
                for algorithm in (watermark.algorithms if watermark else ())]
    kind = {"thumbnail": True} if thumbnail else {"keyframe": True} if still else {}
    output = {"output_id": output_id, "disclosure": label.as_dict(), **kind}
    return {
        "claim_generator_info": [
            {"name": CLAIM_GENERATOR_NAME, "version": claim_generator_version}
        ],
        "title": title,
        "format": media_format or ("image/png" if still else "video/mp4"),
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            _training_mining_assertion(),
            _consent_assertion(consent, other_consents),
            {"label": OUTPUT_ASSERTION_LABEL, "data": output},
            *bindings,
        ],
    }


def _require_sha256(field_name: str, value: str) -> None:
    if not _SHA256_HEX.fullmatch(value):
        raise ValueError(f"{field_name} must be 64 lowercase hex characters")


def _created_action(output_id: str, generator: GeneratorInfo, sources: Sequence[SourceOutput] = (), *,
                    still: bool = False, thumbnail: bool = False) -> dict[str, Any]:
    if thumbnail:
        description = ("Small still of a video generated by an AI model from a licensed, consented likeness "
                       "(its first frame, scaled down, labelled and watermarked again at this size).")
    elif still:
        description = ("Still image generated by an AI model from a licensed, consented likeness: a keyframe "
                       "for the producer to approve before it is animated.")
    else:
        description = "Video generated by an AI model from a licensed, consented likeness."
    for source in sources:
        description = f"{description[:-1]}, {SOURCE_DESCRIPTIONS[source.relation].format(title=source.title)}."
    return {
        "action": "c2pa.created",
        "digitalSourceType": IPTC_TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": generator.software_agent(),
        "description": description,
        "parameters": {
            OUTPUT_ID_PARAMETER: output_id,
            **{key: value for key, value in generator.software_agent().items() if key.startswith("com.")},
            **({LIKENESS_MODEL_SHA256S_PARAMETER: list(generator.likeness_model_sha256s)}
               if generator.likeness_model_sha256s else {}),
            **({"ingredientIds": [source.ingredient_id for source in sources]} if sources else {}),
            **{SOURCE_PARAMETERS[source.relation]: source.output_id for source in sources},
        },
    }


CONTINUES = "continues"  # the model started from the last frame of an earlier clip
ANIMATES_KEYFRAME = "keyframe"  # the model animated a keyframe (one still)
SOURCE_PARAMETERS = {CONTINUES: CONTINUES_PARAMETER, ANIMATES_KEYFRAME: KEYFRAME_PARAMETER}
SOURCE_DESCRIPTIONS = {
    CONTINUES: "starting from the last frame of the earlier output {title} so that the two scenes join",
    ANIMATES_KEYFRAME: "animated from the keyframe {title}",
}


@dataclass(frozen=True)
class SourceOutput:
    """An earlier output a render started from, as its own trusted manifest describes it."""

    relation: str  # CONTINUES or ANIMATES_KEYFRAME
    title: str
    output_id: str
    manifest_label: str
    format: str = "video/mp4"

    def __post_init__(self) -> None:
        if self.relation not in SOURCE_PARAMETERS:
            raise ValueError(f"unknown source relation {self.relation!r}")

    @property
    def ingredient_id(self) -> str:
        """Links the c2pa.created action to the ingredient."""
        return "continued-output" if self.relation == CONTINUES else "keyframe"


def source_ingredient(source: SourceOutput) -> dict[str, Any]:
    """The ingredient definition of an output a render started from; its file is added with it.

    C2PA 2.x names three relationships: ``parentOf`` (this asset is the ingredient, edited or
    rendered anew; it pairs with ``c2pa.opened``), ``componentOf`` (the ingredient is placed
    in this asset, as a cut's scenes are) and ``inputTo`` (the ingredient was an input to a
    computational process, such as an AI model, that created this asset). A continued scene
    is a new clip the model generated from the earlier one's last frame, none of whose frames
    it contains, and an animated keyframe is the image an image-to-video model generated the
    clip from: both ``inputTo``, linked from the ``c2pa.created`` action that used them.
    """
    return {"title": source.title, "format": source.format, "relationship": "inputTo",
            "label": source.ingredient_id}


def _where(still: bool) -> str:
    return "into the image" if still else "into every frame"


def _watermarked_action(watermark: WatermarkBinding, claim_generator_version: str, *,
                        still: bool = False) -> dict[str, Any]:
    return {
        "action": "c2pa.watermarked",
        "softwareAgent": {"name": CLAIM_GENERATOR_NAME, "version": claim_generator_version},
        "description": f"An invisible watermark carrying the output's watermark id was embedded {_where(still)}.",
        "parameters": {WATERMARK_ID_PARAMETER: watermark.watermark_id},
    }


def _soft_binding_assertion(watermark: WatermarkBinding, algorithm: str, *, still: bool = False) -> dict[str, Any]:
    """One layer's binding. A still's mark covers the whole image (an empty scope); a clip's, its whole duration."""
    scope = {} if still else {"timespan": {"start": 0, "end": watermark.duration_ms}}
    return {
        "label": SOFT_BINDING_LABEL,
        "data": {
            "alg": algorithm,
            "blocks": [{"scope": scope, "value": list(watermark.value)}],
            "pad": [],
        },
    }


def _disclosure_action(label: LabelSpec, claim_generator_version: str, *, still: bool = False) -> dict[str, Any]:
    return {
        "action": "c2pa.edited",
        "softwareAgent": {"name": CLAIM_GENERATOR_NAME, "version": claim_generator_version},
        "description": (
            f'Visible "{label.text}" disclosure burned {_where(still)} ({label.placement}).'
        ),
    }


def _training_mining_assertion() -> dict[str, Any]:
    return {
        "label": "cawg.training-mining",
        "data": {"entries": {entry: {"use": "notAllowed"} for entry in _TRAINING_MINING_ENTRIES}},
    }


def _consent_assertion(consent: ConsentReference, others: Sequence[ConsentReference] = ()) -> dict[str, Any]:
    """The license behind an output; for a scene under several, the first one's fields as
    for any output (so one-license readers still find it) and ``licenses`` listing them all."""
    data: dict[str, Any] = {
        "license_id": consent.license_id,
        "license_text_sha256": consent.license_text_sha256,
        "status_url": consent.status_url,
        "scope": CONSENT_SCOPE,
    }
    if others:
        data["licenses"] = [{"license_id": ref.license_id, "license_text_sha256": ref.license_text_sha256,
                             "status_url": ref.status_url} for ref in (consent, *others)]
    return {"label": CONSENT_ASSERTION_LABEL, "data": data}


@dataclass(frozen=True)
class CutScene:
    """One scene of a cut, as its own trusted manifest describes it."""

    ingredient_id: str  # links the scene's c2pa.placed action to its ingredient
    title: str
    manifest_label: str
    consent: tuple[ConsentReference, ...]
    output_id: str | None = None


def build_cut_manifest(
    *,
    title: str,
    cut_id: str,
    scenes: Sequence[CutScene],
    choices: Sequence[str],
    claim_generator_version: str,
) -> dict[str, Any]:
    """Manifest definition for the cut of a playthrough: its scenes joined, frames untouched.

    ``choices[i]`` is the viewer's choice that led from scene ``i`` to scene ``i + 1``, empty
    where the story went on without one. The scenes are added to the builder as
    ``componentOf`` ingredients (``cut_ingredient``).

    The actions follow C2PA 2.x (18.14): a new asset begins with ``c2pa.created``, whose
    ``digitalSourceType`` is IPTC's composite of trained-algorithmic media, since the cut is
    assembled from AI-generated parts; ``c2pa.opened`` would name a single ``parentOf``
    ingredient, which a cut does not have. Each scene then gets one ``c2pa.placed`` action,
    the action the specification gives for adding a ``componentOf`` ingredient, linked to it
    through ``ingredientIds``; actions are listed in the order they happened, so they are the
    path taken. No standard action or assertion records a viewer's choice, and action
    ``parameters`` may carry namespaced fields, so each placed scene after the first carries
    the choice that led to it (``com.bespoke.choice``) and says it in its description: the
    path lives in one place instead of being repeated in a separate assertion.

    The cut adds no visible label and no watermark of its own: each scene keeps the ones its
    manifest declares. Its consent assertion lists every license behind its scenes.
    """
    if not scenes:
        raise ValueError("a cut needs at least one scene")
    if len(choices) != len(scenes) - 1:
        raise ValueError(f"{len(scenes)} scenes need {len(scenes) - 1} choices between them, not {len(choices)}")
    agent = {"name": CLAIM_GENERATOR_NAME, "version": claim_generator_version}
    created = {
        "action": "c2pa.created",
        "digitalSourceType": IPTC_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
        "description": "Cut of an interactive story: the scenes played, joined without re-encoding.",
        "parameters": {CUT_ID_PARAMETER: cut_id},
    }
    placed = [_placed_action(number, scene, choices[number - 2] if number > 1 else "", agent)
              for number, scene in enumerate(scenes, start=1)]
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": "video/mp4",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [created, *placed]}},
            _training_mining_assertion(),
            _cut_consent_assertion([ref for scene in scenes for ref in scene.consent]),
            {"label": CUT_ASSERTION_LABEL, "data": {"cut_id": cut_id, "scenes": len(scenes)}},
        ],
    }


def cut_ingredient(scene: CutScene) -> dict[str, Any]:
    """The ingredient definition of one scene; the scene file itself is added with it."""
    return {"title": scene.title, "format": "video/mp4", "relationship": "componentOf", "label": scene.ingredient_id}


def _placed_action(number: int, scene: CutScene, choice: str, agent: dict[str, str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {"ingredientIds": [scene.ingredient_id]}
    if not choice:
        description = f"Scene {number} ({scene.title}) placed {'first' if number == 1 else 'next'}."
    else:
        parameters[CHOICE_PARAMETER] = choice
        description = f'Scene {number} ({scene.title}) placed after the viewer chose "{choice}".'
    return {"action": "c2pa.placed", "softwareAgent": agent, "description": description, "parameters": parameters}


def _cut_consent_assertion(references: Sequence[ConsentReference]) -> dict[str, Any]:
    unique = list(dict.fromkeys(references))
    return {
        "label": CONSENT_ASSERTION_LABEL,
        "data": {
            "licenses": [{"license_id": ref.license_id, "license_text_sha256": ref.license_text_sha256,
                          "status_url": ref.status_url} for ref in unique],
            "scope": CONSENT_SCOPE,
        },
    }
