"""Excludable content categories and the prompt screen that enforces them.

A license names the categories its talent refused; a prompt that touches a refused
category is refused by the gate. Prompts are screened on lemmas against the maintained
lexicons in consent/lexicons/ (words, phrases, compound parts and narrow exceptions per
language and category): in English always, and in each language the license lists that
has a lexicon. A talent's own free-text exclusions are matched the same way, on the
lemmas of their words in any order. The screen is deliberately strict: a false refusal
costs a reworded prompt, a false pass costs a person's consent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from consent import lexicons

CATEGORIES: tuple[str, ...] = ("sexual", "violence", "political", "hate", "drugs", "alcohol_tobacco", "endorsement")
# What a person reads for each category, on forms and in a license's text.
CATEGORY_LABELS: dict[str, str] = {category: category.replace("_", " and ").capitalize() for category in CATEGORIES}
OWN_EXCLUSION = "own_exclusion"
ALWAYS_SCREENED = "en"

_OWN_PHRASE_SEPARATORS = re.compile(r"[,;\n]+")


def screening_languages(license_languages: Iterable[str] = ()) -> tuple[str, ...]:
    """English, then each listed language (codes such as fr or pt-BR) that has a lexicon."""
    available = set(lexicons.available_languages())
    languages = [ALWAYS_SCREENED]
    for code in license_languages:
        base = code.split("-")[0].lower()
        if base in available and base not in languages:
            languages.append(base)
    return tuple(languages)


def own_exclusion_phrases(texts: Iterable[str]) -> list[str]:
    """A talent's free-text exclusions, one phrase per comma, semicolon or line."""
    return [phrase.strip() for text in texts for phrase in _OWN_PHRASE_SEPARATORS.split(text) if phrase.strip()]


def excluded_hits(prompt: str, excluded_categories: Iterable[str], *, languages: Iterable[str] = (),
                  own_exclusions: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(category, matched lexicon entry) for each refused category the prompt touches,
    then (OWN_EXCLUSION, phrase) for each of the talent's own exclusions it touches."""
    categories = list(excluded_categories)
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:  # fail closed: a category nobody can screen for is an error, not a pass
        raise ValueError(f"unknown content categories: {', '.join(unknown)}")
    phrases = own_exclusion_phrases(own_exclusions)
    if not categories and not phrases:
        return []
    passes = [(lexicons.load(language), lexicons.tokenize(prompt, language))
              for language in screening_languages(languages)]
    hits = []
    for category in categories:
        for lexicon, tokens in passes:
            entries = lexicon.categories.get(category)
            term = lexicons.category_hit(entries, tokens) if entries else None
            if term:
                hits.append((category, term))
                break
    for phrase in phrases:
        for lexicon, tokens in passes:
            words = lexicons.own_phrase_words(phrase, lexicon)
            if words and lexicons.find_unordered(words, tokens):
                hits.append((OWN_EXCLUSION, phrase))
                break
    return hits
