"""Values read from found clauses by regular expressions: jurisdiction, renewal notice, liability cap.

These are rules, not the model: every value is marked `by: "rules"` and carries the span it was read
from, so a reviewer can see exactly which words produced it.
"""

from __future__ import annotations

import re

from .records import Clause, Extracted

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
    "forty-five": 45, "fifty": 50, "sixty": 60, "seventy": 70, "seventy-five": 75, "eighty": 80,
    "ninety": 90, "one hundred twenty": 120, "one hundred and twenty": 120, "one hundred eighty": 180,
    "one hundred and eighty": 180,
}
_WORDS = "|".join(sorted((re.escape(w) for w in _NUMBER_WORDS), key=len, reverse=True))
_UNIT_DAYS = {"day": 1, "business day": 1, "calendar day": 1, "week": 7, "month": 30, "year": 365}
# "sixty (60) days", "60 days", "ninety days", "three (3) months", "30-day"
_DURATION = re.compile(
    rf"\b(?:(?P<word>{_WORDS})\s*(?:\(\s*(?P<paren>\d+)\s*\))?|(?P<digits>\d+))"
    r"[\s-]*(?P<unit>(?:business\s+|calendar\s+)?days?|weeks?|months?|years?)\b",
    re.IGNORECASE,
)
_NOTICE = re.compile(r"\bnotice|\bnotif|\bwritten\s+notice|\bprior\s+to\b|\bbefore\b", re.IGNORECASE)
_AUTO_RENEWAL = re.compile(
    r"automatic(?:ally)?\s+(?:be\s+)?(?:renew|extend)|auto[- ]?renew|evergreen"
    r"|(?:renew|extend)(?:s|ed)?\s+automatically"
    r"|shall\s+(?:be\s+)?(?:renewed|extended)\s+for\s+(?:successive|additional|further)"
    r"|(?:successive|additional)\s+(?:\S+\s+){0,4}(?:terms?|periods?)\s*,?\s+unless",
    re.IGNORECASE,
)
# After "laws of [the] [State of]": the jurisdiction's words up to a delimiter or a continuing phrase.
_GOVERNING = re.compile(
    r"\blaws?\s+of\s+(?:the\s+)?(?:(?:state|commonwealth|province|republic|kingdom)\s+of\s+)?"
    r"(?P<j>[A-Za-z][A-Za-z.'\- ]{1,60}?)"
    r"(?=\s*[,.;:()\[\]]|\s*$|\s+(?:without|excluding|except|applicable|as\s+applied|as\s+in\s+effect|"
    r"regardless|notwithstanding|in\s+effect|that|which|shall|will|and\s+the|to\s+the|for|in\s+all|"
    r"governs?|apply|exclusive|including|other\s+than)\b)",
    re.IGNORECASE,
)
_LAW_GOVERNS = re.compile(r"\b(?P<j>[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2})\s+law\s+(?:shall\s+|will\s+)?govern",)
_MONEY = re.compile(
    r"(?:US\$|USD\s?|\$|EUR\s?|€|GBP\s?|£)\s?\d+(?:,\d{3})*(?:\.\d+)?(?:\s*(?:million|billion|thousand))?"
    r"|\b\d+(?:,\d{3})*(?:\.\d+)?\s*(?:million\s+|billion\s+)?(?:dollars|euros|pounds)\b",
    re.IGNORECASE,
)
_TERM_AFTER = re.compile(r"\s*(?:renewal\s+)?(?:terms?|periods?\s+of)\b", re.IGNORECASE)
_TERM_BEFORE = re.compile(
    r"(?:\bfor\s+(?:an?\s+|the\s+)?(?:(?:additional|successive|further|renewal|subsequent)\s+)*"
    r"(?:periods?\s+of\s+)?|\bterms?\s+of\s+)$", re.IGNORECASE)
_PREFIXES = re.compile(r"^(?:the\s+)?(?:(?:state|commonwealth|province|republic|kingdom)\s+of\s+)?", re.IGNORECASE)


def normalize_jurisdiction(name: str) -> str:
    """'the State of NEW YORK' -> 'new york': how playbook entries and extracted values are compared."""
    return " ".join(_PREFIXES.sub("", name.strip()).split()).casefold()


def _days(m: re.Match[str]) -> int:
    if m.group("paren"):
        n = int(m.group("paren"))
    elif m.group("digits"):
        n = int(m.group("digits"))
    else:
        n = _NUMBER_WORDS[" ".join(m.group("word").lower().split())]
    unit = " ".join(m.group("unit").lower().split()).rstrip("s")
    return n * _UNIT_DAYS.get(unit, 1)


def _value(clause: Clause, m: re.Match[str], value: str | int | bool, group: int | str = 0) -> Extracted:
    start, end = clause.start + m.start(group), clause.start + m.end(group)
    return Extracted(value=value, text=clause.text[m.start(group):m.end(group)], start=start, end=end)


def governing_law(clause: Clause) -> Extracted | None:
    """The jurisdiction named in a governing-law clause ('New York'), or None."""
    m = _GOVERNING.search(clause.text) or _LAW_GOVERNS.search(clause.text)
    if m is None:
        return None
    words = " ".join(m.group("j").split()).strip(" .'-")
    words = _PREFIXES.sub("", words)
    if not words or normalize_jurisdiction(words) in {"", "this agreement", "any", "such", "another"}:
        return None
    return _value(clause, m, words, "j")


def auto_renewal(clause: Clause) -> Extracted | None:
    m = _AUTO_RENEWAL.search(clause.text)
    return _value(clause, m, True) if m else None


def notice_days(clause: Clause) -> Extracted | None:
    """The notice period nearest a 'notice' word, in days (months count 30, years 365), or None."""
    notices = [m.start() for m in _NOTICE.finditer(clause.text)]
    if not notices:
        return None
    best: tuple[int, re.Match[str]] | None = None
    for m in _DURATION.finditer(clause.text):
        following = clause.text[m.end(): m.end() + 12]
        preceding = clause.text[max(0, m.start() - 40): m.start()]
        if _TERM_AFTER.match(following) or _TERM_BEFORE.search(preceding):
            continue  # "one (1) year terms", "renew for one year": the term's length, not the notice
        distance = min(abs(m.start() - n) for n in notices)
        if distance <= 120 and (best is None or distance < best[0]):
            best = (distance, m)
    return _value(clause, best[1], _days(best[1])) if best else None


def liability_cap(clause: Clause) -> Extracted | None:
    """The first money amount in a cap-on-liability clause, as written."""
    m = _MONEY.search(clause.text)
    return _value(clause, m, " ".join(m.group(0).split())) if m else None


EXTRACTORS = {
    "Governing Law": {"governing_law": governing_law},
    "Renewal Term": {"auto_renewal": auto_renewal, "renewal_notice_days": notice_days},
    "Notice Period to Terminate Renewal": {"auto_renewal": auto_renewal, "renewal_notice_days": notice_days},
    "Cap on Liability": {"liability_cap": liability_cap},
}


def extract(clause: Clause) -> dict[str, Extracted]:
    """Every value the rules can read from a clause of its type."""
    out: dict[str, Extracted] = {}
    for key, fn in EXTRACTORS.get(clause.type, {}).items():
        value = fn(clause)
        if value is not None:
            out[key] = value
    return out
