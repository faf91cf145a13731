"""Reading a model's free-text answer: which label it names, whether it says "Not found".

The metrics themselves live in lextune.evals.scoring (per task type) and lextune.evals.bootstrap.
"""

from __future__ import annotations

import re
import string

NOT_FOUND = "Not found"

# Typographic quotes and dashes models like to wrap answers in, on top of ASCII punctuation.
_STRIP_CHARS = string.punctuation + string.whitespace + "\u2018\u2019\u201c\u201d\u00ab\u00bb\u2013\u2014\u2026"
_WORD_RE = re.compile(r"\w+")


def normalize_label(text: str) -> str:
    """Lowercase, collapse runs of whitespace and strip surrounding punctuation and quotes."""
    return " ".join(text.lower().split()).strip(_STRIP_CHARS)


def _word_pattern(needle: str) -> re.Pattern[str]:
    # Word boundaries so label "no" is not found inside "not sure" or "none".
    return re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)")


def match_label(generated: str, labels: list[str]) -> str | None:
    """Map a model's free-text answer to one of `labels`, or None when no label can be read from it.

    Exact normalized match first, then a label at the start of the answer, then the longest label anywhere.
    """
    answer = normalize_label(generated)
    normalized = [(normalize_label(label), label) for label in labels]
    normalized = [(norm, label) for norm, label in normalized if norm]
    for norm, label in normalized:
        if answer == norm:
            return label
    # Longest first: when "non-compete" and "non-compete exception" both prefix the answer, the longer is meant.
    by_length = sorted(normalized, key=lambda pair: len(pair[0]), reverse=True)
    for norm, label in by_length:
        if _word_pattern(norm).match(answer):
            return label
    for norm, label in by_length:
        if _word_pattern(norm).search(answer):
            return label
    return None


def is_not_found(text: str) -> bool:
    """True when the answer says the clause is absent (normalized text starts with "not found")."""
    return normalize_label(text).startswith("not found")
