"""Word-level helpers shared by window selection, confidence and the citation verifier."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'",
                         "\u2013": "-", "\u2014": "-", "\u00a0": " "})

# Function words and question words: they carry no evidence that a passage says what a claim says.
# Negations (no, not, nor) are kept as content: "may not assign" must not match "may assign".
_STOP_TEXT = """
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each either else few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just may me might
more most must my myself now of off on once only or other our ours ourselves out over own per
same shall she should so some such than that the their theirs them themselves then there these they this
those through thus to too under until up upon very was we were what when where whether which while who
whom whose why will with within would yes you your yours yourself yourselves
"""
STOPWORDS = frozenset(_STOP_TEXT.split())

_SUFFIXES = ("ings", "ing", "edly", "ed", "ies", "es", "s", "ly")


def normalize(text: str) -> str:
    """Lowercase, typographic quotes and dashes made plain, runs of whitespace made one space."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return _SPACE.sub(" ", text).strip().lower()


def stem(word: str) -> str:
    """A crude suffix strip ("governed", "governing", "governs" -> "govern"); enough to match inflections."""
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 4 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def content_words(text: str) -> list[str]:
    """Stemmed words of the text that are not stopwords, in order (lowercase)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def contains_phrase(passage: str, phrase: str) -> bool:
    """Whether the phrase's words occur consecutively in the passage (case, spacing and punctuation aside)."""
    p = words(phrase)
    if not p:
        return False
    return f" {' '.join(p)} " in f" {' '.join(words(passage))} "
