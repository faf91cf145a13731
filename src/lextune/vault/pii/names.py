"""Regex building blocks for names in contracts, and the tests that tell a name from legal prose."""

from __future__ import annotations

import re

from lextune.vault.pii.dictionary import FIRST_NAMES, is_english
from lextune.vault.pii.vocab import (
    GENERIC_WORDS,
    GEO_WORDS,
    LEGAL_SUFFIX,
    ORG_HEADS,
    PUBLIC_BODY_WORDS,
    ROLE_WORDS,
    STRONG_SUFFIXES,
    US_STATE_CODES,
    words,
    wordset,
)

# A capitalized token of a name: "Theravance", "THERAVANCE", "2TheMart.com", "AT&T", "i-Escrow",
# "(Cayman)". It must hold a letter, so "10.9" or "2019" end a name.
TOK = (
    r"(?:(?=[\w'’&\-./]*[A-Za-z])[A-Z0-9][\w'’&\-./]*[\w]|[A-Z]|[a-z]{1,2}-?[A-Z][\w'’&\-.]*\w"
    r"|\([A-Z][A-Za-z]+(?:[ ][A-Z][A-Za-z]+)?\))"
)
CONN = r"(?:of|and|&|de|du|des|la|le|del|della|van|von|der|den|y|e|for|the|do|da|dos|das|et|und|on|-|–)"
SEP = r"[ \t]{1,3}"
RUN = rf"{TOK}(?:{SEP}(?:{CONN}{SEP})*{TOK}){{0,8}}"
# Lower-case "inc"/"llc"/"ltd" occur in filings ("BorrowMoney.com, inc"); other suffixes are matched
# as written, since "company" in lower case is prose ("a Delaware company").
SUFFIX = rf"(?:{LEGAL_SUFFIX}|inc|llc|ltd)"
SUFFIX_TAIL = rf"(?:,[ \t]{{0,3}}|{SEP}){SUFFIX}\.?(?:(?:,[ \t]{{0,3}}|{SEP}){SUFFIX}\.?)?(?![\w\-])"
CORPORATE = re.compile(rf"(?<![\w&])(?P<name>{RUN})(?P<suffix>{SUFFIX_TAIL})")
CANDIDATE = re.compile(rf"(?<![\w&])(?:{RUN})(?:{SUFFIX_TAIL})?")
SUFFIX_AFTER = re.compile(SUFFIX_TAIL)

# Words that end a name to their left: "AGREEMENT BETWEEN ACME CORP." names "ACME CORP.".
BOUNDARY_WORDS = wordset("""
between among by with to from agreement exhibit whereas this dated amendment witnesseth signature page name
title attention attn copy source if re dba d/b/a f/s/o c/o execution version confidential
""")

_CONNECTORS = wordset("""
of and & de du des la le del della van von der den y e for the do da dos das et und on
""")
_PERSON_TITLES = wordset("""
mr mrs ms miss dr prof messrs sir esq jr sr ii iii iv
""")


def tokens(text: str) -> list[str]:
    return text.split()


def trim_left(text: str) -> tuple[int, str]:
    """Drop what precedes the last boundary word; returns (offset of the kept part, kept part)."""
    toks = list(re.finditer(r"\S+", text))
    cut = 0
    for i, t in enumerate(toks[:-1]):
        w = t.group().strip(",.;:()")
        # Lower-case "and" joins a name ("Research and Engineering"); "AND" in a heading separates two.
        if w.lower() in BOUNDARY_WORDS or w == "AND":
            cut = i + 1
    while cut < len(toks) and toks[cut].group().lower() in _CONNECTORS - {"the"}:
        cut += 1
    if cut >= len(toks):
        return len(text), ""
    return toks[cut].start(), text[toks[cut].start():]


def suffix_strength(suffix: str) -> str:
    """"strong" for legal forms (Inc., GmbH), "weak" for Company/Co., "" for none."""
    keys = [w.strip(".,").lower() for w in re.split(r"[ ,]+", suffix.strip(" ,")) if w.strip(".,")]
    if not keys:
        return ""
    return "strong" if any(k in STRONG_SUFFIXES for k in keys) else "weak"


def split_suffix(text: str) -> tuple[str, str]:
    """("Conformis", ", Inc.") for "Conformis, Inc."; (text, "") when it has no legal suffix."""
    m = re.search(rf"{SUFFIX_TAIL}$", text.rstrip())
    if not m or m.start() == 0:
        return text, ""
    return text[: m.start()], text[m.start():]


_ROMAN = re.compile(r"^[ivxl]+$")


def content_words(text: str) -> list[str]:
    """The words of a name candidate without connectors, suffixes, honorifics, initials and numerals.

    A connector counts only in lower case: "Des Kearse" and "ON Semiconductor" keep their first word.
    """
    core, _ = split_suffix(text)
    out = []
    for tok in re.findall(r"[A-Za-z][A-Za-z'’\-]*", core):
        w = words(tok)[0] if words(tok) else ""
        if len(w) > 1 and not (tok.islower() and w in _CONNECTORS) and w not in _PERSON_TITLES and not _ROMAN.match(w):
            out.append(w)
    return out


def is_vocab_word(w: str) -> bool:
    if w in _CONNECTORS:
        return True
    stems = {w, w.removesuffix("s")}
    return any(x in GENERIC_WORDS or x in ROLE_WORDS or x in GEO_WORDS for x in stems) or w.upper() in US_STATE_CODES


def has_fixed_name_word(text: str) -> bool:
    """A word outside the fixed legal vocabulary ("Clear" in "Clear Capital LLC")."""
    return any(not is_vocab_word(w) for w in content_words(text))


def is_name_like(text: str, lower_words: set[str], strict: bool = False) -> bool:
    """A word that is outside the legal vocabulary and never written in lower case in this document.

    Proper names ("Theravance", "Gadicke") are capitalized everywhere; "Distribution" or
    "Confidential" also occur in lower case somewhere in the same contract. `strict` (for bare NER
    guesses) also rejects a candidate with any word the document writes in lower case, which is
    what headings ("GRANT AND SCOPE OF LICENSE") and defined terms ("Opening Deadline") have.
    """
    ws = content_words(text)
    if strict and any(w in lower_words for w in ws):
        return False
    return any(not is_vocab_word(w) and w not in lower_words for w in ws)


def has_non_role_word(text: str) -> bool:
    """"Global Technologies Group, Inc." has; "Licensee LLC" and "Delaware Corporation" have not."""
    return any(w not in ROLE_WORDS and w not in GEO_WORDS and w not in _CONNECTORS for w in content_words(text))


def is_public_body(text: str) -> bool:
    """A court, agency or exchange ("Securities and Exchange Commission"): not a private party."""
    return any(w in PUBLIC_BODY_WORDS for w in words(text))


def has_org_head(text: str) -> bool:
    core, suffix = split_suffix(text)
    return bool(suffix) or bool(words(core)) and words(core)[-1] in ORG_HEADS


def acronym_of(alias: str, name: str) -> bool:
    """True when `alias` abbreviates `name`: "ACSI" for "Amazon.com Commerce Services, Inc.", "T&L"."""
    letters = re.sub(r"[^a-z0-9]", "", alias.lower())
    if len(letters) < 2:
        return False
    # "BMS" for "Bristol-Myers Squibb Company": hyphenated words give an initial each, or one.
    for sep in (r"[\s,]+", r"[\s,\-]+"):
        toks = [t.lstrip("(") for t in re.split(sep, name) if re.search(r"[A-Za-z0-9]", t)]
        toks = [t for t in toks if t]
        initials_all = "".join(t[0].lower() for t in toks)
        initials = "".join(t[0].lower() for t in toks if t.lower() not in _CONNECTORS)
        if any(s.startswith(letters) for s in (initials, initials_all)):
            return True
    return False


def alias_matches(alias: str, name: str) -> bool:
    """The alias is a short form of the name: its words are the name's words, or its acronym."""
    a = [w for w in words(alias) if w != "the"]
    n = set(words(name))
    return bool(a) and (all(w in n for w in a) or acronym_of(alias, name))


def has_coined_word(text: str, lower_words: set[str]) -> bool:
    """A word no dictionary has and the document never writes in lower case: "Miltenyi", "Unicom"."""
    return any(not is_vocab_word(w) and not is_english(w) and w not in lower_words for w in content_words(text))


def is_person_shaped(text: str) -> bool:
    """A coined word ("Augusti") or a common given name first ("Rick Fair"): not "Custom Reagents"."""
    ws = content_words(text)
    return bool(ws) and (ws[0] in FIRST_NAMES or any(not is_english(w) and not is_vocab_word(w) for w in ws))
