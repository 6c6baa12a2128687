"""Recall and false refusals of the content-exclusion prompt screen.

`python bench/run.py exclusions` screens every prompt of bench/data/exclusion_prompts.jsonl
(one JSON object a line: prompt, label, lang, split) with `consent.content_policy.excluded_hits`,
the function the consent gate calls, and prints per category:

    recall          the share of the category's prompts refused on a license that excludes
                    that category alone and lists the prompt's language
    para_recall     the same over its paraphrases: prompts without the category's head
                    word (HEAD_WORDS: no "violen..." for violence, no "sex..." for sexual)
    fpr             the share of harmless prompts (look-alikes such as "gunmetal grey" or
                    "a naked flame") that the category refuses on a license excluding
                    every category and listing every language that has a lexicon
    overall         recall over all category prompts; fpr: harmless prompts refused by any category

for the whole set and for each split: `dev`, the part the lexicons were tuned on, and
`heldout`, written before the lexicons and never used to tune them. Then each miss and
each false refusal, and last the figures as one JSON line. The goal: recall >= 0.95 per
category and fpr <= 0.02 (`goal_met` for the whole set, `goal_met_by_split` for each part).

Knobs (environment)
    BESPOKE_EXCLUSIONS_SPLIT   screen only this split (dev or heldout)
    BESPOKE_EXCLUSIONS_SAMPLE  keep every Nth prompt of each label, for a reduced run
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consent import lexicons
from consent.content_policy import CATEGORIES, excluded_hits

BOOTSTRAP = False  # no database needed: the screen is a pure function
DATA = Path(__file__).resolve().parent / "data" / "exclusion_prompts.jsonl"
HARMLESS = "harmless"
SPLITS = ("dev", "heldout")
GOAL_RECALL = 0.95
GOAL_FPR = 0.02
HEAD_WORDS: dict[str, re.Pattern[str]] = {
    "sexual": re.compile(r"\bsex", re.IGNORECASE),
    "violence": re.compile(r"\b(?:violen|gewalt)", re.IGNORECASE),
    "political": re.compile(r"\b(?:politi|polít)", re.IGNORECASE),
    "hate": re.compile(r"\b(?:hate|hatred|hass|haine|odio)", re.IGNORECASE),
    "drugs": re.compile(r"\b(?:drug|droge|drogue|droga)", re.IGNORECASE),
    "alcohol_tobacco": re.compile(r"\b(?:alcohol|alkohol|alcool|tobac|tabak|tabac)", re.IGNORECASE),
    "endorsement": re.compile(r"\bendors", re.IGNORECASE),
}


@dataclass(frozen=True)
class LabelledPrompt:
    prompt: str
    label: str
    lang: str
    split: str

    @property
    def paraphrase(self) -> bool:
        return self.label != HARMLESS and not HEAD_WORDS[self.label].search(self.prompt)


def load_prompts(path: Path = DATA) -> list[LabelledPrompt]:
    lines = path.read_text(encoding="utf-8").splitlines()
    prompts = [LabelledPrompt(**json.loads(line)) for line in lines if line.strip()]
    unknown = ({p.label for p in prompts} - {*CATEGORIES, HARMLESS}) | ({p.split for p in prompts} - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown labels or splits in {path.name}: {sorted(unknown)}")
    return prompts


def select(prompts: list[LabelledPrompt], split: str | None, sample: int) -> list[LabelledPrompt]:
    chosen = [p for p in prompts if split is None or p.split == split]
    by_label: dict[str, list[LabelledPrompt]] = {}
    for prompt in chosen:
        by_label.setdefault(prompt.label, []).append(prompt)
    return [p for group in by_label.values() for p in group[::sample]]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def measure(prompts: list[LabelledPrompt]) -> tuple[dict[str, Any], list[str], list[str]]:
    """Figures per category and overall, the missed prompts and the false refusals."""
    every_language = lexicons.available_languages()
    harmless = [p for p in prompts if p.label == HARMLESS]
    refused_harmless = {id(p): dict(excluded_hits(p.prompt, CATEGORIES, languages=every_language)) for p in harmless}
    figures: dict[str, Any] = {}
    misses: list[str] = []
    caught_total = labelled_total = 0
    for category in CATEGORIES:
        own = [p for p in prompts if p.label == category]
        caught = {id(p) for p in own if excluded_hits(p.prompt, [category], languages=[p.lang])}
        paraphrases = [p for p in own if p.paraphrase]
        misses += [f"{category} [{p.split}, {p.lang}] {p.prompt}" for p in own if id(p) not in caught]
        caught_total, labelled_total = caught_total + len(caught), labelled_total + len(own)
        false = sum(1 for p in harmless if category in refused_harmless[id(p)])
        figures[category] = {
            "prompts": len(own), "paraphrases": len(paraphrases), "recall": _share(len(caught), len(own)),
            "para_recall": _share(sum(1 for p in paraphrases if id(p) in caught), len(paraphrases)),
            "fpr": _share(false, len(harmless)),
        }
    false_refusals = [f"{', '.join(f'{c} ({w})' for c, w in hits.items())} [{p.split}, {p.lang}] {p.prompt}"
                      for p in harmless if (hits := refused_harmless[id(p)])]
    figures["overall"] = {"prompts": labelled_total, "harmless": len(harmless),
                          "recall": _share(caught_total, labelled_total),
                          "fpr": _share(len(false_refusals), len(harmless))}
    return figures, misses, false_refusals


def goal_met(figures: dict[str, Any]) -> bool:
    recalls = [figures[c]["recall"] for c in CATEGORIES if figures[c]["recall"] is not None]
    fpr = figures["overall"]["fpr"]
    return all(r >= GOAL_RECALL for r in recalls) and (fpr is None or fpr <= GOAL_FPR)


def _print_table(title: str, figures: dict[str, Any]) -> None:
    print(f"\n{title}")
    print(f"  {'category':<16}{'prompts':>8}{'paraphr.':>9}{'recall':>8}{'para_rec':>9}{'fpr':>8}")
    for category in (*CATEGORIES, "overall"):
        row = figures[category]

        def cell(key: str, width: int, row: dict[str, Any] = row) -> str:
            value = row.get(key)
            return f"{'-' if value is None else value:>{width}}"

        print(f"  {category:<16}{cell('prompts', 8)}{cell('paraphrases', 9)}{cell('recall', 8)}"
              f"{cell('para_recall', 9)}{cell('fpr', 8)}")


def run() -> dict[str, Any]:
    started = time.perf_counter()
    split = os.environ.get("BESPOKE_EXCLUSIONS_SPLIT") or None
    if split is not None and split not in SPLITS:
        raise ValueError(f"BESPOKE_EXCLUSIONS_SPLIT is one of {', '.join(SPLITS)}")
    sample = int(os.environ.get("BESPOKE_EXCLUSIONS_SAMPLE") or 1)
    prompts = select(load_prompts(), split, sample)
    report: dict[str, Any] = {}
    details: list[str] = []
    for name in ([split] if split else ["all", *SPLITS]):
        part = prompts if name == "all" else [p for p in prompts if p.split == name]
        figures, misses, false_refusals = measure(part)
        _print_table(f"{name}: {len(part)} prompts", figures)
        report[name] = figures
        if not details:  # the first table covers every prompt screened
            details = [f"  missed: {line}" for line in misses]
            details += [f"  refused harmless: {line}" for line in false_refusals]
    print("\n" + "\n".join(details) if details else "\nno misses, no false refusals")
    main = report[split or "all"]
    report.update({
        "languages": list(lexicons.available_languages()),
        "goal": {"recall": GOAL_RECALL, "fpr": GOAL_FPR},
        "goal_met": goal_met(main),
        "goal_met_by_split": {name: goal_met(figures) for name, figures in report.items()},
        "seconds": round(time.perf_counter() - started, 1),
    })
    print()
    return report
