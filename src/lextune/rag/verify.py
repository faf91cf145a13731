"""Check a cited answer against exactly the passages the model was shown, citation by citation.

The answer is cut into statements: each sentence, and within a sentence each stretch of text before a
citation tag (`[2]`, `[1, 3]`, `[1][3]`, `[S1, S2]` and `[S1]` all parse). Each citation of a statement is
checked against the passage shown with that number, never against the others:

- a number that was not shown: "not_retrieved";
- a statement holding double-quoted text: every quote (split at "..." elisions) must occur word for word
  in the cited passage ("quote"), case, spacing and punctuation aside;
- otherwise the statement's words occurring consecutively in the passage ("contained": "New York" in
  "...the laws of the State of New York"), or high content-word overlap ("overlap"): at least
  OVERLAP_MIN of the statement's content words (lowercased, stopwords out, crude stems) are in the passage
  AND every number, capitalized name and negation of the statement is, so "governed by California law" cannot pass
  on "governed by the laws of New York" by its other words.

Statements whose citations all fail are stripped from the reply and counted; statements citing nothing are
dropped and listed (`uncited`). When nothing supported remains, or the retrieval was not confident, the
reply is the refusal with the nearest passages; a model answer saying the passages do not answer
(prompts.CITED_NOT_FOUND / NOT_FOUND) is a refusal too.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from lextune.data import prompts
from lextune.rag.records import REFUSAL, CitationCheck, GroundedAnswer, Passage, Retrieval
from lextune.rag.text import STOPWORDS, contains_phrase, content_words, normalize, stem, words

# 0.8: on "governed by the laws of the State of New York", "governed by New York law" passes (5/5
# content words) while a one-word change in a four-word statement (3/4) fails. Names and numbers are
# checked separately, so a wrong party or date fails whatever the ratio.
OVERLAP_MIN = 0.8
SNIPPET_CHARS = 160
NEGATIONS = frozenset({"no", "not", "nor", "never", "neither", "without"})
# Words that frame a statement rather than claim anything ("According to [1], ..."): not required in the passage.
FRAMING = frozenset(content_words("according passage passages excerpt answer says said"))

_ITEM = r"(?:S\s*)?\d+"
_GROUP = re.compile(rf"\[\s*{_ITEM}(?:\s*[,;]\s*{_ITEM})*\s*\]", re.IGNORECASE)
_NUMBER = re.compile(r"\d+")
_QUOTE_CHARS = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"'})
_QUOTED = re.compile(r'"([^"]+)"')
_ELLIPSIS = re.compile(r"\.\.\.|\u2026")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\[A-Z\"(0-9])|\n+")
_SALIENT = re.compile(r"\b(?:[A-Z][A-Za-z'&.-]*|\w*\d\w*)")


@dataclass
class Statement:
    text: str  # tags removed
    numbers: list[int]
    checks: list[CitationCheck] = field(default_factory=list)

    @property
    def supported(self) -> list[int]:
        return [c.number for c in self.checks if c.supported]


def parse_tags(tag: str) -> list[int]:
    """`[1, S2]` -> [1, 2]."""
    return [int(n) for n in _NUMBER.findall(tag)]


def _sentences(text: str) -> list[str]:
    """Sentences, never split inside a double-quoted stretch; a tag opening a sentence goes to the one before."""
    masked = _QUOTED.sub(lambda m: '"' + "x" * (len(m.group(0)) - 2) + '"', text)
    cuts = [0] + [m.end() for m in _SENTENCE_END.finditer(masked)] + [len(text)]
    out: list[str] = []
    for a, b in itertools.pairwise(cuts):
        piece = text[a:b].strip()
        lead = re.match(rf"(?:{_GROUP.pattern}\s*)+", piece, re.IGNORECASE)
        if lead and out:
            out[-1] += " " + lead.group(0).strip()
            piece = piece[lead.end():].strip()
        if piece:
            out.append(piece)
    return out


def statements(answer: str) -> tuple[list[Statement], list[str]]:
    """(cited statements, uncited sentences with content words) of an answer."""
    cited: list[Statement] = []
    uncited: list[str] = []
    for sentence in _sentences(answer.translate(_QUOTE_CHARS)):
        parts: list[Statement] = []
        pos = 0
        for m in _GROUP.finditer(sentence):
            before = sentence[pos: m.start()]
            if parts and not before.strip():  # "[1][2]": one statement, two citations
                parts[-1].numbers += parse_tags(m.group(0))
            else:
                parts.append(Statement(before, parse_tags(m.group(0))))
            pos = m.end()
        trailing = sentence[pos:]
        if not parts:
            if content_words(sentence):
                uncited.append(sentence)
            continue
        if content_words(trailing):  # "According to [1], the law is New York."
            parts[-1].text += trailing
        merged: list[Statement] = []
        for part in parts:  # a stretch with no content ("See [1] and [2]") lends its tags to the next
            if merged and not content_words(merged[-1].text):
                merged[-1] = Statement(merged[-1].text + " " + part.text, merged[-1].numbers + part.numbers)
            else:
                merged.append(part)
        for st in merged:
            st.text = re.sub(r"\s+", " ", st.text).strip(" ,;:")
            st.numbers = list(dict.fromkeys(st.numbers))
        cited.extend(merged)
    return cited, uncited


def _quotes(statement: str) -> list[str]:
    return [q for q in _QUOTED.findall(statement) if content_words(q)]


def check(statement: str, passage: Passage | None, number: int) -> CitationCheck:
    """Whether the passage shown as [number] supports the statement (see the module docstring)."""
    where = {"chunk_id": None, "document_id": None, "start": None, "end": None}
    if passage is not None:
        where = {"chunk_id": passage.chunk_id, "document_id": passage.document_id, "start": passage.start,
                 "end": passage.end}
    if passage is None:
        return CitationCheck(number=number, sentence=statement, supported=False, evidence="not_retrieved", **where)
    evidence = support(statement, passage.text)
    return CitationCheck(number=number, sentence=statement, supported=evidence is not None,
                         evidence=evidence or "unsupported", **where)


def support(statement: str, passage: str) -> str | None:
    """"quote", "contained" or "overlap" when the passage supports the statement, else None."""
    quotes = _quotes(statement)
    if quotes:
        pieces = [p for q in quotes for p in _ELLIPSIS.split(q) if content_words(p)]
        return "quote" if pieces and all(contains_phrase(passage, p) for p in pieces) else None
    claim = [w for w in content_words(statement) if w not in FRAMING]
    if not claim:
        return None
    if contains_phrase(passage, statement):
        return "contained"
    have = set(content_words(passage))
    ratio = sum(w in have for w in claim) / len(claim)
    plain = {stem(w) for w in words(passage)}
    salient = [stem(w) for tok in _SALIENT.findall(statement) for w in words(tok)
               if w not in STOPWORDS and stem(w) not in FRAMING]
    salient += [w for w in claim if w in NEGATIONS]
    if ratio >= OVERLAP_MIN and all(w in plain for w in salient):
        return "overlap"
    return None


def says_not_found(answer: str) -> bool:
    """The model's own "the passages do not answer" (prompts.NOT_FOUND / CITED_NOT_FOUND, or the refusal)."""
    a = normalize(answer).strip(" .\"'")
    return a.startswith((normalize(prompts.NOT_FOUND), normalize(REFUSAL).rstrip(".")))


def refusal_text(passages: list[Passage]) -> str:
    """The refusal, followed by the nearest passages (title, section, span and the opening words)."""
    if not passages:
        return REFUSAL
    lines = [REFUSAL, "Nearest passages:"]
    for p in passages:
        snippet = " ".join(p.text.split())
        snippet = snippet if len(snippet) <= SNIPPET_CHARS else snippet[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " ..."
        lines.append(f"[{p.number}] {p.title} / {p.section or '(no heading)'}, chars {p.start}-{p.end}: {snippet}")
    return "\n".join(lines)


def verify_answer(raw_text: str, retrieval: Retrieval) -> GroundedAnswer:
    """Check every citation of the model's answer against the passages shown; strip, flag or refuse."""
    shown = {p.number: p for p in retrieval.passages}
    cited, uncited = statements(raw_text)
    checks: list[CitationCheck] = []
    for st in cited:
        st.checks = [check(st.text, shown.get(n), n) for n in st.numbers]
        checks.extend(st.checks)

    def refused(reason: str) -> GroundedAnswer:
        return GroundedAnswer(text=refusal_text(retrieval.passages), raw_text=raw_text, refused=True, reason=reason,
                              citations=checks, passages=retrieval.passages, uncited=uncited,
                              removed=sum(not st.supported for st in cited) + len(uncited))

    if not retrieval.passages:
        return refused("no_passages")
    if not retrieval.confident:
        return refused("low_confidence")
    if says_not_found(raw_text):
        return refused("model_not_found")
    if not cited:
        return refused("uncited")
    kept = [st for st in cited if st.supported]
    if not kept:
        return refused("unsupported")
    removed = len(cited) - len(kept) + len(uncited)
    text = " ".join(f"{st.text} {prompts.cite(st.supported)}" for st in kept)
    if removed:
        text += f"\n[{removed} statement(s) removed: not supported by the passages they cite, or citing none]"
    return GroundedAnswer(text=text, raw_text=raw_text, refused=False, reason="partly_supported" if removed else None,
                          citations=checks, passages=retrieval.passages, uncited=uncited, removed=removed)
