"""The party-definition pattern: `THERAVANCE, INC., a Delaware corporation ("Licensee")`.

A definition names a party (kept, with its aliases linked to it) or defines a term of the contract
(`Capitan Reef Aquifer ("CRA")`, left alone); this module tells them apart.
"""

from __future__ import annotations

import re

from presidio_analyzer import LocalRecognizer
from presidio_analyzer.nlp_engine import NlpArtifacts

from lextune.vault.pii.dictionary import FIRST_NAMES, is_english
from lextune.vault.pii.names import (
    acronym_of,
    alias_matches,
    content_words,
    has_fixed_name_word,
    has_non_role_word,
    has_org_head,
    is_vocab_word,
)
from lextune.vault.pii.recognizers import candidates, preamble_end, result, spans
from lextune.vault.pii.vocab import ROLE_WORDS, is_role_phrase, words

# A parenthetical that defines an alias: ("Licensee"), (the "Company"), (hereinafter "Miltenyi"),
# (collectively, "MusclePharm" or the "Company"); and the unbracketed form of some translations:
# Hereafter referred to as the "Company" or "AZUL".
_QUOTE_OPEN = "\"“”'‘’"
DEFINITION = re.compile(
    r"\((?P<inner>[^()]{0,200}?[\"“”][^\"“”()]{1,80}[\"“”][^()]{0,200}?)\)"
    r"|\((?P<single>\s*(?:the\s+)?['‘][^'’()]{1,60}['’]\s*)\)"
    r"|\((?P<unquoted>\s*(?:hereinafter|hereafter)\s+(?:referred\s+to\s+as\s+)?(?:the\s+)?[A-Z][\w&\-]*(?:\s[A-Z][\w&\-]*){0,3}\s*)\)"
    # An acronym in bare brackets right after a name: Bristol-Myers Squibb Company (BMS).
    r"|(?<=[\w.,]\s)\((?P<acro>[A-Z][A-Z0-9&]{1,7})\)"
    # A party role in bare brackets: The Right Solution, a Nevada Corporation (the COMPANY).
    r"|\((?P<role>\s*(?:the\s+)?[A-Z][A-Za-z]+(?:\s[A-Z][A-Za-z]+)?\s*)\)"
    r"|(?P<bare>\b(?:[Hh]ereinafter|[Hh]ereafter)\s+(?:(?:individually|collectively)\s+)?(?:referred\s+to\s+as|called)"
    r"\s+(?:the\s+)?[\"“][^\"“”]{1,60}[\"”](?:\s*(?:or|and)\s+(?:the\s+)?[\"“][^\"“”]{1,60}[\"”])*)"
)
_ALIAS = re.compile(r"[\"“”]\s*([^\"“”]{1,80}?)\s*[,.;]?\s*[\"“”]|['‘]([^'’]{1,60})['’]")
# ", a Delaware corporation", ", an individual", ", a company incorporated under the laws of Brazil".
_DESCRIPTOR = re.compile(
    r",?\s*(?:a|an)\s+(?:[\w.\-/]+\s+){0,6}?(?:corporation|company|partnership|bank|association|trust|city|town|"
    r"county|municipality|individual|entity|organization|société|groupement|GIE|fund|LLC|limited|society|"
    r"cooperative|university|institution)\b"
    r"|\b(?:organized|incorporated|existing|established|formed)\s+under\b",
    re.IGNORECASE,
)
# "... of the Venture. The principal office": a word in lower case, a full stop, a capital.
_SENTENCE_END = re.compile(r"(?<=[a-z]{3}[.!?])\s+(?=[A-Z])|\n\s*\n")
_LEFT_BOUNDARY = re.compile(r"\b(?:between|among|and|by)\b\s*:?|[:;]|\(\d\)", re.IGNORECASE)


def quoted(inner: str) -> list[tuple[int, str]]:
    """(offset, alias) of each quoted alias in a definition's text."""
    out = []
    for m in _ALIAS.finditer(inner):
        g = 1 if m.group(1) is not None else 2
        alias = m.group(g).strip(" ,.;")
        if alias:
            out.append((m.start(g), alias))
    return out


class PartyDefinitionRecognizer(LocalRecognizer):
    """The party-definition pattern: `Name, a Delaware corporation ("Alias")` and its variants.

    The name is chosen among the capitalized runs before the parenthetical: the one the alias
    abbreviates, else the one just before it, else the first after "between"/"and". It is kept as
    a party when the alias is a role ("Licensee"), the name carries a legal suffix or a descriptor
    (", a Delaware corporation"), or the definition sits in the preamble; otherwise `X ("Y")` is a
    defined term ("Capitan Reef Aquifer ("CRA")").
    """

    def __init__(self):
        super().__init__(supported_entities=["PARTY", "PERSON"], name="PartyDefinitionRecognizer")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities, nlp_artifacts: NlpArtifacts | None = None):
        preamble = preamble_end(text)
        persons = spans(nlp_artifacts, "PERSON")
        places = spans(nlp_artifacts, "LOCATION")
        out = []
        for m in DEFINITION.finditer(text):
            group = next(g for g in ("inner", "single", "unquoted", "acro", "role", "bare") if m.group(g) is not None)
            base = m.start(group)
            if group == "role":
                word = m.group(group).strip()
                if not _is_party_role(word):
                    continue
                aliases = [(base + m.group(group).index(word), word)]
            elif group == "acro":
                aliases = [(base, m.group(group))]
            elif group == "unquoted":
                word = re.search(r"[A-Z][\w&\-]*(?:\s[A-Z][\w&\-]*){0,3}\s*$", m.group(group))
                aliases = [(base + word.start(), word.group().strip())]
            else:
                aliases = [(base + off, a) for off, a in quoted(m.group(group))]
            if not aliases:
                continue
            lo = max(0, m.start() - 600)
            # The name is in the same sentence as its definition: start after the last sentence end.
            # (A "Hereafter referred to as" line names the paragraph above it, so it may cross one.)
            ends = [e.end() for e in _SENTENCE_END.finditer(text, lo, m.start())
                    if group != "bare" or not e.group().startswith("\n")]
            lo = ends[-1] if ends else lo
            cands = [(s, e) for s, e in candidates(text, lo, m.start())
                     if not any(ps <= s and e <= pe for ps, pe in places)
                     and (has_fixed_name_word(text[s:e]) or has_non_role_word(text[s:e]) and has_org_head(text[s:e]))
                     and text[s - 1:s] not in _QUOTE_OPEN]
            if not cands:
                continue
            names = [a for a in aliases if not is_role_phrase(a[1])]
            roles = [a for a in aliases if is_role_phrase(a[1])]
            chosen = next((c for c in reversed(cands) if any(alias_matches(a, text[c[0]:c[1]]) for _, a in names)),
                          None)
            if chosen is None and not text[cands[-1][1]:m.start()].strip(" \t\n,"):
                chosen = cands[-1]
            if chosen is None:
                # The name starts right after "between"/"and": "and Jaguar Investments, Inc. and its
                # affiliates, a Nevada corporation" names Jaguar, not what follows "and its".
                starts = {c[0] for c in cands}
                bounds = [b.end() for b in _LEFT_BOUNDARY.finditer(text, lo, m.start())]
                bounds = [b for b in bounds if _name_starts(text, b) & starts] or bounds
                after = [c for c in cands if bounds and c[0] >= bounds[-1]]
                chosen = after[0] if after else None
            if group == "acro" and (chosen is None or text[chosen[1]:m.start()].strip(" \t,") or not any(
                    acronym_of(a, text[chosen[0]:chosen[1]]) for _, a in aliases)):
                continue  # a bare-bracket acronym counts only as the initials of the name just before it
            if chosen is None:
                continue
            s, e = chosen
            name = text[s:e]
            gap = text[e:m.start()]
            # A party role ("Licensee", "the Company") makes what it names a party; "Party"/"Parties"
            # alone names both parties at once and "Sponsor Staff" is a defined term.
            role_alias = any(_is_party_role(a) for _, a in roles)
            # A name alias must abbreviate the name or look like a name itself; "the "Initial Well""
            # after a party's name is a defined term, kept intact and not tied to the party.
            names = [(a_s, a) for a_s, a in names if alias_matches(a, name) or _looks_like_name(a)]
            in_preamble = m.start() < preamble and any(alias_matches(a, name) for _, a in names) and (
                has_org_head(name) or any(not is_english(w) and not is_vocab_word(w) for w in content_words(name)))
            person = any(ps <= s and e <= pe for ps, pe in persons) or re.search(
                r"\ban\s+individual\b", gap, re.IGNORECASE) is not None
            # "Peyton Manning (hereinafter called "Manning")": a person's short name, wherever defined.
            parts = [a for _, a in names if _is_part_of(a, name)]
            person_alias = bool(parts) and len(content_words(name)) >= 2 and (
                person or content_words(name)[0] in FIRST_NAMES or _person_like(name, parts[0]))
            if not (role_alias or has_org_head(name) or _DESCRIPTOR.search(gap) or in_preamble or person_alias):
                continue
            person = person or (person_alias and not has_org_head(name))
            etype = "PERSON" if person and not has_org_head(name) else "PARTY"
            out.append(result(etype, s, e, 0.95, self.name, source="definition",
                               aliases=[(a_s, a_s + len(a), a) for a_s, a in names]))
        return _merge_same_span(out)


def _merge_same_span(results: list) -> list:
    """One result per span, with the aliases of every definition of it: Presidio keeps only one of
    two results with the same span, and "Acme Inc. ("ACI") (... collectively, "ACME")" defines two."""
    merged: dict[tuple[int, int, str], object] = {}
    for r in results:
        key = (r.start, r.end, r.entity_type)
        if key in merged:
            merged[key].recognition_metadata["aliases"] += r.recognition_metadata["aliases"]
        else:
            merged[key] = r
    return list(merged.values())


def _name_starts(text: str, pos: int) -> set[int]:
    """Where a name after a boundary word may start: past blanks, before or after a leading "the"."""
    blank = re.compile(r"\s*").match(text, pos).end()
    article = re.compile(r"the\s+", re.IGNORECASE).match(text, blank)
    return {blank, article.end()} if article else {blank}


def _is_part_of(alias: str, name: str) -> bool:
    """"Manning" of "Peyton Manning": one or two of the name's words, not an acronym."""
    a = [w for w in words(alias) if w != "the"]
    return 0 < len(a) <= 2 and set(a) < set(words(name))


def _person_like(name: str, alias: str) -> bool:
    """Two or three capitalized words, those not in the alias coined: "Peyton Manning" ("Manning")."""
    toks = name.split()
    rest = [w for w in content_words(name) if w not in words(alias)]
    return 2 <= len(toks) <= 3 and all(t[:1].isupper() and not t.isupper() for t in toks) and bool(rest) and all(
        not is_english(w) and not is_vocab_word(w) for w in rest)


def _looks_like_name(alias: str) -> bool:
    """"ACSI", "SutroVax", "Jefferies": an acronym or a word no dictionary has."""
    a = alias.strip()
    # "Power2Ship", "eDiets", "SutroVax": digits or capitals inside a word mark a coined name.
    if re.search(r"[a-z][A-Z]|[A-Za-z]\d[A-Za-z]", a):
        return True
    return bool(re.fullmatch(r"[A-Z0-9&\-.]{2,8}", a)) or any(
        not is_english(w) and not is_vocab_word(w) for w in words(a))


def _is_party_role(alias: str) -> bool:
    ws = [w for w in words(alias) if w not in ("the", "a", "an")]
    return bool(ws) and all(w in ROLE_WORDS for w in ws) and not set(ws) <= {"party", "parties"}
