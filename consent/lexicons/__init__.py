"""Lemma-level matching of prompts against maintained per-language lexicons.

Each `<language>.json` beside this module lists, per content category:

- `block`: words and phrases that put a prompt in the category. A phrase matches a
  contiguous run of tokens; `...` inside a phrase lets up to three other words stand
  in between ("shot ... dead" matches "shot him dead"). A word matches a token whose
  surface form or simplemma lemma equals the word or the word's lemma, so "kill"
  matches "killed" and "kills"; a word written `=word` matches that exact form only
  ("=hanged" must not match "hanging a picture").
- `allow`: phrases whose tokens are removed before the category's block list is
  matched ("naked flame", "shooting star"): an exception is narrow, a refusal broad.
- `prefixes` / `suffixes`: parts that match the start or end of a longer compound
  word ("waffe" matches "Schusswaffe").

and, for the whole language, `stopwords`: words dropped from a talent's own
free-text exclusions before their remaining lemmas are matched, in any order; and
`extra_lemmas`: a second lemma for words simplemma always reads as a noun.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import simplemma

LEXICON_DIR = Path(__file__).resolve().parent
GAP = "..."
MAX_GAP_WORDS = 3
COMPOUND_REST_MIN = 3  # the rest of a compound word is at least this long ("waffe" in "schusswaffe")
OWN_PHRASE_SLACK = 2  # a talent's phrase matches within its own length plus this many words

_TOKEN = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Token:
    text: str
    forms: frozenset[str]


@dataclass(frozen=True)
class Word:
    forms: frozenset[str]
    exact: bool = False

    def matches(self, token: Token) -> bool:
        return token.text in self.forms if self.exact else not self.forms.isdisjoint(token.forms)


@dataclass(frozen=True)
class Phrase:
    """Words in order; `gaps[i]` says whether other words may stand between word i and i+1."""

    written: str
    words: tuple[Word, ...]
    gaps: tuple[bool, ...]


class PhraseList:
    """Phrases in lexicon order, indexed by the forms of their first word."""

    def __init__(self, phrases: tuple[Phrase, ...]) -> None:
        self.phrases = phrases
        index: dict[str, list[int]] = {}
        for number, phrase in enumerate(phrases):
            for form in phrase.words[0].forms:
                index.setdefault(form, []).append(number)
        self._by_first_form = {form: tuple(numbers) for form, numbers in index.items()}

    def starting_at(self, token: Token) -> list[int]:
        """Numbers of the phrases whose first word may match the token, in lexicon order."""
        return sorted({n for form in token.forms for n in self._by_first_form.get(form, ())})


@dataclass(frozen=True)
class CategoryLexicon:
    block: PhraseList
    allow: PhraseList
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    language: str
    categories: dict[str, CategoryLexicon]
    stopwords: frozenset[str]


@cache  # the lexicons ship with the code
def available_languages() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in LEXICON_DIR.glob("*.json")))


@lru_cache(maxsize=100_000)
def lemma(word: str, language: str) -> str:
    try:
        return simplemma.lemmatize(word, lang=language).lower()
    except ValueError:  # a language simplemma does not know: the word stands for itself
        return word.lower()


def tokenize(text: str, language: str) -> tuple[Token, ...]:
    """Letters-only tokens (apostrophes, hyphens and digits split), each with its forms:
    lowercase surface and the lemma of the word as written and in lowercase (German
    nouns lemmatise best capitalised)."""
    extra = _extra_lemmas(language)
    tokens = []
    for match in _TOKEN.finditer(text):
        written = match.group(0)
        lower = written.lower()
        forms = {lower, lemma(written, language), lemma(lower, language)}
        forms.update(extra[form] for form in list(forms) if form in extra)
        tokens.append(Token(lower, frozenset(forms)))
    return tuple(tokens)


@cache
def _extra_lemmas(language: str) -> dict[str, str]:
    """The lexicon's `extra_lemmas`: a second lemma for words simplemma reads one way only
    ("smoking" stays the noun; as a verb it is "smoke")."""
    if not (LEXICON_DIR / f"{language}.json").is_file():
        return {}
    return {word.lower(): base.lower() for word, base in _raw(language).get("extra_lemmas", {}).items()}


def compile_phrase(written: str, language: str) -> Phrase:
    words: list[Word] = []
    gaps: list[bool] = []
    gap_next = False
    for part in written.split():
        if part == GAP:
            gap_next = True
            continue
        exact = part.startswith("=")
        for index, token in enumerate(tokenize(part.lstrip("="), language)):
            if words:
                gaps.append(gap_next and index == 0)
            words.append(Word(frozenset({token.text}), exact=True) if exact else Word(token.forms))
        gap_next = False
    if not words:
        raise ValueError(f"lexicon entry {written!r} has no words")
    return Phrase(written, tuple(words), tuple(gaps))


def match_at(phrase: Phrase, tokens: tuple[Token, ...], start: int,
             masked: frozenset[int] = frozenset()) -> tuple[int, ...] | None:
    """Positions of an occurrence of the phrase beginning at `start`, among unmasked tokens."""

    def extend(position: int, word_index: int) -> tuple[int, ...] | None:
        if position >= len(tokens) or position in masked or not phrase.words[word_index].matches(tokens[position]):
            return None
        if word_index == len(phrase.words) - 1:
            return (position,)
        reach = MAX_GAP_WORDS + 1 if phrase.gaps[word_index] else 1
        for step in range(1, reach + 1):
            rest = extend(position + step, word_index + 1)
            if rest is not None:
                return (position, *rest)
        return None

    return extend(start, 0)


def find_unordered(words: tuple[Word, ...], tokens: tuple[Token, ...]) -> bool:
    """All words occur, in any order, within a window a little longer than the words."""
    window = len(words) + OWN_PHRASE_SLACK
    for start, first in enumerate(tokens):
        span = tokens[start:start + window]
        if any(word.matches(first) for word in words) and all(
                any(word.matches(token) for token in span) for word in words):
            return True
    return False


def _compound_hit(token: Token, lexicon: CategoryLexicon) -> str | None:
    """The compound part the token starts or ends with, written "part-" or "-part"."""
    for form in sorted(token.forms):
        for part in lexicon.prefixes:
            if form.startswith(part) and len(form) - len(part) >= COMPOUND_REST_MIN:
                return f"{part}-"
        for part in lexicon.suffixes:
            if form.endswith(part) and len(form) - len(part) >= COMPOUND_REST_MIN:
                return f"-{part}"
    return None


def category_hit(lexicon: CategoryLexicon, tokens: tuple[Token, ...]) -> str | None:
    """The first block entry (in lexicon order, as written) the tokens match once the
    allowed phrases are removed, else the first compound part they contain."""
    masked: set[int] = set()
    for start, token in enumerate(tokens):
        for number in lexicon.allow.starting_at(token):
            masked.update(match_at(lexicon.allow.phrases[number], tokens, start) or ())
    frozen = frozenset(masked)
    first: int | None = None
    for start, token in enumerate(tokens):
        for number in lexicon.block.starting_at(token):
            if first is not None and number >= first:
                break
            if match_at(lexicon.block.phrases[number], tokens, start, frozen) is not None:
                first = number
                break
    if first is not None:
        return lexicon.block.phrases[first].written
    for position, token in enumerate(tokens):
        if position not in frozen and (part := _compound_hit(token, lexicon)):
            return part
    return None


@cache
def _raw(language: str) -> dict[str, Any]:
    return json.loads((LEXICON_DIR / f"{language}.json").read_text(encoding="utf-8"))


@cache
def load(language: str) -> Lexicon:
    """The language's lexicon. Its allowed phrases include every other lexicon's, as the
    other language lemmatises them: prompts mix languages, and "cocktail dress" is no
    drink in a German screen of an English prompt either."""
    data = _raw(language)
    categories = {}
    for name, entries in data["categories"].items():
        allowed = dict.fromkeys(entry for other in available_languages()
                                for entry in _raw(other)["categories"].get(name, {}).get("allow", ()))
        categories[name] = CategoryLexicon(
            block=PhraseList(tuple(compile_phrase(entry, language) for entry in entries.get("block", ()))),
            allow=PhraseList(tuple(compile_phrase(entry, language) for entry in allowed)),
            prefixes=tuple(part.lower() for part in entries.get("prefixes", ())),
            suffixes=tuple(part.lower() for part in entries.get("suffixes", ())),
        )
    return Lexicon(language, categories, frozenset(word.lower() for word in data.get("stopwords", ())))


def own_phrase_words(phrase: str, lexicon: Lexicon) -> tuple[Word, ...]:
    """The lemmas of a talent's exclusion, without its stopwords ("no horse riding" -> horse, ride)."""
    return tuple(Word(token.forms) for token in tokenize(phrase, lexicon.language)
                 if token.text not in lexicon.stopwords)
