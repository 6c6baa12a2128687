"""Excludable content categories and the prompt screen that enforces them.

A license names the categories its talent refused; a prompt that uses any listed term
of a refused category is refused by the gate. The screen is deliberately strict: a
false refusal costs a reworded prompt, a false pass costs a person's consent.
"""

from __future__ import annotations

import re
from functools import lru_cache

CATEGORY_TERMS: dict[str, tuple[str, ...]] = {
    "sexual": ("nude", "naked", "nudity", "sex", "sexual", "sexy", "explicit", "porn", "pornographic",
               "erotic", "lingerie", "nsfw", "topless"),
    "violence": ("gore", "blood", "bloody", "kill", "killing", "murder", "shooting", "stabbing", "torture",
                 "corpse", "weapon", "gun", "knife", "assault"),
    "political": ("election", "campaign", "politician", "president", "senator", "vote", "voting",
                  "propaganda", "protest", "rally", "candidate"),
    "hate": ("racist", "racism", "slur", "nazi", "supremacist", "hate"),
    "drugs": ("cocaine", "heroin", "meth", "drug", "drugs", "marijuana", "cannabis", "overdose"),
    "alcohol_tobacco": ("beer", "wine", "vodka", "whiskey", "alcohol", "drunk", "cigarette", "cigar",
                        "vape", "smoking", "tobacco"),
    "endorsement": ("advertisement", "advert", "endorse", "endorsing", "endorsement", "sponsored",
                    "commercial", "brand"),
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_TERMS)


@lru_cache(maxsize=None)
def _pattern(category: str) -> re.Pattern[str]:
    terms = "|".join(re.escape(term) for term in CATEGORY_TERMS[category])
    return re.compile(rf"\b(?:{terms})(?:s|es)?\b", re.IGNORECASE)


def excluded_hits(prompt: str, excluded_categories: list[str]) -> list[tuple[str, str]]:
    """(category, matched word) for each refused category the prompt touches."""
    hits = []
    for category in excluded_categories:
        match = _pattern(category).search(prompt)
        if match:
            hits.append((category, match.group(0).lower()))
    return hits
