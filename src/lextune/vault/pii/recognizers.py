"""Presidio recognizers for the names in contracts: companies, defined parties, signatories.

A default Presidio misses most party names (ALL-CAPS "THERAVANCE, INC.", "Athens Bancshares
Corporation"); these recognizers read the patterns contracts use to name their parties. They
propose candidates with where they came from (`recognition_metadata["source"]`); `resolve` decides
which are names and links each to its short forms and aliases.
"""

from __future__ import annotations

import re

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from lextune.vault.pii.names import (
    CANDIDATE,
    CORPORATE,
    RUN,
    SUFFIX_AFTER,
    SUFFIX_TAIL,
    split_suffix,
    suffix_strength,
    trim_left,
)


def result(etype: str, start: int, end: int, score: float, name: str, **meta) -> RecognizerResult:
    return RecognizerResult(etype, start, end, score, recognition_metadata={
        RecognizerResult.RECOGNIZER_NAME_KEY: name, **meta})


def candidates(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """Name-shaped runs (with their legal suffix) in text[lo:hi], trimmed at boundary words."""
    out = []
    for m in CANDIDATE.finditer(text, lo, hi):
        off, kept = trim_left(m.group())
        if kept:
            s = m.start() + off
            out.append((s, strip_end(text, s, m.end())))
    return out


def strip_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in ",;:'’ \t":
        end -= 1
    return end


_INNER_SUFFIX = re.compile(rf"{SUFFIX_TAIL}[ \t]+(?:and|or|&)[ \t]+")


def split_companies(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """"XYZ HOLDINGS LLC and Acme GmbH" is two companies: split after each inner suffix + "and"."""
    parts, s = [], start
    for m in _INNER_SUFFIX.finditer(text, start, end):
        tail = re.match(rf"{SUFFIX_TAIL}", text[m.start():m.end()])
        parts.append((s, m.start() + tail.end()))
        s = m.end()
    parts.append((s, end))
    return [(a, b) for a, b in parts if b > a]
_AMPERSAND_COMPANY = re.compile(rf"(?<![\w&])(?:{RUN})[ \t]+&[ \t]+(?:Company|COMPANY|Co\.|CO\.)")
_DBA = re.compile(rf"\b(?:d/b/a|dba|DBA|D/B/A|doing[ \t]+business[ \t]+as)[ \t]+(?P<name>{CANDIDATE.pattern})")


# Signature blocks name the signing organization after "For and on behalf of", often on the next line.
# "The University of Iowa": an institution named by its head noun first, which no suffix marks.
_UNIVERSITY = re.compile(r"\b(?:(?:The|THE)[ \t]+)?(?:University|UNIVERSITY)[ \t]+(?:of|OF)[ \t]+[A-Z][\w\-]+"
                         r"(?:[ \t]+(?!(?:and|or|the)\b)[A-Z][\w\-]+){0,2}")
_BEHALF = re.compile(r"\b(?i:for[ \t]+and[ \t]+on[ \t]+behalf[ \t]+of)[ \t]*:?[ \t]*(?:\n[ \t]*)?")


class CorporateNameRecognizer(LocalRecognizer):
    """Capitalized runs ending in an entity suffix ("THERAVANCE, INC.", "Miltenyi Biotec GmbH"), trade
    names after "d/b/a", and the organization after "For and on behalf of"."""

    def __init__(self):
        super().__init__(supported_entities=["PARTY"], name="CorporateNameRecognizer")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities, nlp_artifacts: NlpArtifacts | None = None):
        out = []
        for m in CORPORATE.finditer(text):
            off, kept = trim_left(m.group("name"))
            if not kept:
                continue
            for s, e in split_companies(text, m.start() + off, m.end()):
                strength = suffix_strength(split_suffix(text[s:e])[1])
                out.append(result("PARTY", s, e, 0.9, self.name, source="suffix", suffix=strength))
        for m in _AMPERSAND_COMPANY.finditer(text):
            off, kept = trim_left(m.group())
            if kept:  # "Charles Webb & Company", "Smith & Co.": a firm's name, not prose
                out.append(result("PARTY", m.start() + off, m.end(), 0.9, self.name, source="suffix", suffix="strong"))
        for m in _DBA.finditer(text):
            before = text[max(0, m.start() - 40):m.start()].rstrip()
            # "Acme, Inc. d/b/a Foo" or "JVLS, LLC dba Foo"; not "Operational DBA Per Hour".
            if not (before.endswith(",") or SUFFIX_AFTER.search(" " + before[-12:]) and re.search(
                    rf"{SUFFIX_TAIL}$", before)):
                continue
            end = strip_end(text, m.start("name"), m.end("name"))
            out.append(result("PARTY", m.start("name"), end, 0.9, self.name, source="dba"))
        for m in _UNIVERSITY.finditer(text):
            out.append(result("PARTY", m.start(), m.end(), 0.88, self.name, source="institution"))
        for m in _BEHALF.finditer(text):
            c = CANDIDATE.match(text, m.end())
            if c:
                end = strip_end(text, c.start(), c.end())
                if text[end:end + 7].startswith(" (publ)"):  # Swedish public companies: "TELIA AB (publ)"
                    end += 7
                out.append(result("PARTY", c.start(), end, 0.88, self.name, source="behalf"))
        return out


# Where the preamble ends: definitions after this are defined terms, not parties.
_PREAMBLE_END = re.compile(
    r"\bWHEREAS\b|\bRECITALS\b|\bBACKGROUND\b|\bW\s?I\s?T\s?N\s?E\s?S\s?S\s?E\s?T\s?H\b|NOW,?\s+THEREFORE|"
    r"\bDEFINITIONS\b|\bIT IS AGREED\b",
)


def preamble_end(text: str) -> int:
    m = _PREAMBLE_END.search(text, 0, 20_000)
    return m.start() if m else min(len(text), 6000)


def spans(nlp_artifacts: NlpArtifacts | None, label: str) -> list[tuple[int, int]]:
    return [(s, e) for s, e, lab in entityspans(nlp_artifacts) if lab == label]


def entityspans(nlp_artifacts: NlpArtifacts | None) -> list[tuple[int, int, str]]:
    """The NER entities as (start, end, label) in the original text (the model ran on squeezed text)."""
    if nlp_artifacts is None:
        return []
    offsets = getattr(nlp_artifacts, "offsets", None)
    out = []
    for e in nlp_artifacts.entities:
        s, end = e.start_char, e.end_char
        if offsets is not None:
            s, end = offsets[s], offsets[end - 1] + 1
        out.append((s, end, e.label_))
    return out


class NerRecognizer(LocalRecognizer):
    """People and organizations from the spaCy model, in original-text offsets."""

    def __init__(self):
        super().__init__(supported_entities=["PERSON", "ORGANIZATION"], name="NerRecognizer")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities, nlp_artifacts: NlpArtifacts | None = None):
        return [result(lab, s, e, 0.85, self.name, source="spacy")
                for s, e, lab in entityspans(nlp_artifacts) if lab in ("PERSON", "ORGANIZATION")]


class PreambleRecognizer(LocalRecognizer):
    """The parties named in the preamble: "by and between X, a ... and Y, a ..."."""

    _AFTER = re.compile(r"\b(?:between|among|and)\b\s*:?\s*(?:\(\d\)\s*|\d\.\s+)?|;\s*(?:and\s+)?", re.IGNORECASE)

    def __init__(self):
        super().__init__(supported_entities=["PARTY"], name="PreambleRecognizer")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities, nlp_artifacts: NlpArtifacts | None = None):
        first = re.search(r"\b(?:between|among)\b", text[:8000], re.IGNORECASE)
        if not first:
            return []
        end = min(len(text), first.start() + 2500, max(preamble_end(text), first.start() + 300))
        out = []
        for m in self._AFTER.finditer(text, first.start(), end):
            c = CANDIDATE.match(text, m.end())
            if c:
                for s, e in split_companies(text, c.start(), strip_end(text, c.start(), c.end())):
                    out.append(result("PARTY", s, e, 0.86, self.name, source="preamble"))
        return out


# Person names: "Mark A. Augusti", "Y. Mashima", "Thomas A.Cellucci", "Evandro Braga de Oliveira",
# "Richard E. Leigh, Jr.", "BaoQing (Angel) Song", "Cyril DUPUY".
_GIVEN = r"(?:(?:[A-Z]\.){1,3}|[A-Z][A-Za-z'’\-]+|[A-Z](?![\w.]))"
PERSON_NAME = (
    rf"{_GIVEN}(?:(?:[ \t]{{1,2}}|(?<=\.))(?:(?:de|da|van|von|del|der|la|le|di|du|dos|bin|al)[ \t]+)?"
    rf"(?:{_GIVEN}|\([A-Z][a-z]+\))){{1,3}}(?:,?[ \t]+(?:Jr|Sr|II|III|IV)\b\.?)?"
)
# The labels of signature blocks, in the capitalizations contracts use ("SIGNED by", "NAME:", "Attn.:").
_TRIGGER = (
    r"(?i:/s/)|\b(?:(?:Print(?:ed)?|PRINT(?:ED)?)[ \t]+)?(?:Name|NAME)[ \t]*:?|\b(?:Signed|SIGNED)[ \t]+(?:by|BY)[ \t]*:?"
    r"(?:[ \t]*\[NAME\])?|\b(?:By|BY)[ \t]*:|\b(?:Witness|WITNESS)(?:[ \t]+(?:Name|NAME))?[ \t]*:?"
    r"|\b(?:Attention|ATTENTION)[ \t]*:?|\b(?:Attn|ATTN)\.?[ \t]*:?|\bc/o|\b(?:Contact|CONTACT)[ \t]*:|\bappeared"
    r"|\bPer[ \t]*:|\b(?:Legal|LEGAL|Authori[sz]ed|AUTHORI[SZ]ED)[ \t]+(?:Representative|REPRESENTATIVE)[ \t]*:"
)
_TITLES = (
    r"President|Chief|CEO|CFO|COO|CTO|Vice|Director|Secretary|Treasurer|Manager|General[ \t]+Counsel|Chairman|"
    r"Partner|Managing|Attorney|Town|City|Notary|Assistant|Founder|Member|Trustee|Executive|Senior|Principal|"
    r"Officer|Esq"
)
SIGNATURE = re.compile(rf"(?:{_TRIGGER})[ \t]*(?:(?i:/s/)[ \t]*)?(?P<name>{PERSON_NAME})")
HONORIFIC = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Messrs)\.?[ \t]+(?P<name>{PERSON_NAME}|[A-Z][a-z]+)")
TITLED = re.compile(rf"(?<![\w.])(?P<name>{PERSON_NAME}),[ \t]*(?:its[ \t]+)?(?:{_TITLES})\b")


class SignatoryRecognizer(LocalRecognizer):
    """People in signature blocks and notices: "By: /s/ John Smith", "Name: Jane Doe", "Attn: ..."."""

    def __init__(self):
        super().__init__(supported_entities=["PERSON"], name="SignatoryRecognizer")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities, nlp_artifacts: NlpArtifacts | None = None):
        out = []
        for pattern, source in ((SIGNATURE, "signature"), (HONORIFIC, "honorific"), (TITLED, "titled")):
            for m in pattern.finditer(text):
                label = text[m.start():m.start("name")]
                if source == "signature" and _CONFORMED.search(label):
                    # "/s/ Bud Ward", "Name: Bus Ward", "Attention: Rusty Pickering": a person or a
                    # department goes there, so a name of common words counts too.
                    source_here = "conformed"
                else:
                    source_here = source
                out.append(result("PERSON", m.start("name"), m.end("name"), 0.9, self.name, source=source_here))
        return out


_CONFORMED = re.compile(r"/s/|\b(?:Name|Attention|Attn|Representative)\b", re.IGNORECASE)


def legal_name_recognizers() -> list[LocalRecognizer]:
    from lextune.vault.pii.definitions import PartyDefinitionRecognizer

    return [NerRecognizer(), CorporateNameRecognizer(), PartyDefinitionRecognizer(), PreambleRecognizer(),
            SignatoryRecognizer()]
