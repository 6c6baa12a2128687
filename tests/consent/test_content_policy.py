"""Content exclusions a paraphrase cannot pass: prompts are screened on lemmas against
per-language lexicons, harmless look-alikes pass, and a talent's own exclusions match
whatever the inflection."""

from __future__ import annotations

import json

import pytest

from consent import gate, lexicons
from consent.content_policy import CATEGORIES, OWN_EXCLUSION, excluded_hits, screening_languages
from tests.conftest import make_license

PARAPHRASES = {
    "a man killed by a handgun, bloodshed everywhere": "violence",
    "the victim was stabbed and murdered": "violence",
    "an unclothed woman on a bed": "sexual",
    "nakedness on the beach": "sexual",
}
LOOK_ALIKES = ["gunmetal grey", "a shot of the skyline", "a naked flame", "a shooting star over the desert",
               "sks person with a killer smile", "sks person shouting bloody brilliant after the goal",
               "a blood orange cut in half", "stars visible to the naked eye"]


def _check(license, prompt: str) -> gate.GateDecision:  # type: ignore[no-untyped-def]
    return gate.check(use=gate.UseRequest(str(license.id), "video", prompt), stage=gate.Stage.REQUEST,
                      actor="user:test", subject="render:test")


@pytest.mark.django_db
def test_paraphrases_without_the_listed_words_are_refused_by_the_gate(personas):
    license = make_license(personas, excluded=("violence", "sexual"))
    for prompt, category in PARAPHRASES.items():
        decision = _check(license, prompt)
        assert not decision.allowed, prompt
        assert decision.reason == gate.Reason.EXCLUDED_CONTENT
        assert f"excluded category '{category}'" in decision.message, (prompt, decision.message)


@pytest.mark.django_db
def test_harmless_look_alikes_pass_the_gate(personas):
    license = make_license(personas, excluded=tuple(CATEGORIES))
    refused = {prompt: _check(license, prompt).message for prompt in LOOK_ALIKES if not _check(license, prompt).allowed}
    assert refused == {}


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "prompt"), [
    ("de", "sks person steht nackt am Fenster"),
    ("fr", "sks person tue un homme avec un pistolet"),
    ("es", "sks person dispara a un policía con una escopeta"),
])
def test_a_prompt_in_a_language_the_license_lists_is_screened_in_that_language(personas, language, prompt):
    license = make_license(personas, excluded=("violence", "sexual"), languages=["en", language])
    decision = _check(license, prompt)
    assert not decision.allowed and decision.reason == gate.Reason.EXCLUDED_CONTENT


def test_screening_covers_english_and_each_listed_language_with_a_lexicon():
    assert screening_languages(["fr", "pt-BR", "de-AT", "fr"]) == ("en", "fr", "de")
    assert {"en", "de", "fr", "es"} <= set(lexicons.available_languages())


@pytest.mark.parametrize(("exclusion", "prompt"), [
    ("no horse riding", "she rode horses along the beach"),
    ("no horse riding", "sks person riding a horse"),
    ("nothing with clowns", "a clown juggling at a party"),
    ("keine Pferde, kein Reiten", "sks person reitet auf einem Pferd"),
])
def test_a_talents_own_exclusion_matches_any_inflection_and_order(exclusion, prompt):
    hits = excluded_hits(prompt, [], languages=["de"], own_exclusions=[exclusion])
    assert hits and hits[0][0] == OWN_EXCLUSION


def test_a_talents_own_exclusion_needs_all_its_words_near_each_other():
    assert excluded_hits("a horse grazing while she rides a bicycle far away down the road", [],
                         own_exclusions=["no horse riding"]) == []


def test_the_hit_names_the_lexicon_entry_and_an_unknown_category_fails_closed():
    assert excluded_hits("sks person was STABBED twice", ["violence"]) == [("violence", "stab")]
    with pytest.raises(ValueError):
        excluded_hits("sks person walking", ["violence", "mystery"])


def test_every_lexicon_covers_known_categories_and_english_covers_all():
    for language in lexicons.available_languages():
        data = json.loads((lexicons.LEXICON_DIR / f"{language}.json").read_text(encoding="utf-8"))
        assert set(data["categories"]) <= set(CATEGORIES), language
        assert lexicons.load(language).categories, language
    assert set(lexicons.load("en").categories) == set(CATEGORIES)


@pytest.mark.django_db
def test_the_talents_own_exclusions_are_signed_terms_the_gate_enforces_after_inflection(personas):
    license = make_license(personas, excluded=(), excluded_uses=["horse riding", "  scenes in a  hospital "])
    assert license.excluded_uses == ["horse riding", "scenes in a hospital"]
    assert "Nor these uses, in the Talent's own words: horse riding; scenes in a hospital." in license.text
    refused = _check(license, "sks person rode horses along the beach at dawn")
    assert not refused.allowed and refused.reason == gate.Reason.EXCLUDED_CONTENT
    assert refused.message == "The prompt touches a use the talent excluded: 'horse riding'."
    assert not _check(license, "sks person waits in the hospitals' corridor scene").allowed
    assert _check(license, "sks person walks a horse-shaped kite along the beach").allowed


@pytest.mark.django_db
@pytest.mark.parametrize(("value", "message"), [
    ("horse riding", "Excluded uses are a list of short phrases."),
    (["ok"], "Each excluded use is 3 to 120 characters"),
    ([f"use {n}" for n in range(21)], "Name at most 20 excluded uses."),
])
def test_excluded_uses_that_are_not_short_phrases_are_refused_with_the_field_named(personas, value, message):
    from core.errors import ValidationFailed
    from consent.models import LikenessLicense

    before = LikenessLicense.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        make_license(personas, offered=False, signed=False, countersigned=False, excluded_uses=value)
    assert refused.value.field == "excluded_uses" and message in refused.value.message
    assert LikenessLicense.objects.count() == before
