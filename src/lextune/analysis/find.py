"""Finding clauses: the model names each passage's clause type, then (optionally) quotes it to confirm.

The questions are the training prompts verbatim (`clause_type_prompt`, `clause_quote_prompt`, SYSTEM), so a
tuned model is asked exactly what it learned. Passages are the vault chunker's spans of the document text,
so every clause's start/end index that text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lextune.core.records import ChunkSpan
from lextune.data import prompts
from lextune.evals.metrics import is_not_found, match_label
from lextune.vault.chunker import chunk_text

from .records import Clause

MIN_PASSAGE_CHARS = 30  # a bare heading or a title names no clause
MIN_QUOTE_CHARS = 20  # shorter quotes are too likely to match by chance to narrow a span


@dataclass
class Candidate:
    """A passage the model typed; kept as a clause unless the quote step says 'Not found'."""

    chunk: ChunkSpan
    clause_type: str
    answer: str


@dataclass
class Typed:
    candidates: list[Candidate] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def passages(text: str, max_chars: int, min_chars: int) -> list[ChunkSpan]:
    """The chunks worth asking about: not the signature block, not a lone heading."""
    return [c for c in chunk_text(text, max_chars=max_chars, min_chars=min_chars)
            if c.kind != "signature" and c.end - c.start >= MIN_PASSAGE_CHARS]


def _conversation(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]


def type_conversations(text: str, chunks: list[ChunkSpan], clause_types: list[str],
                       passage_chars: int) -> list[list[dict[str, str]]]:
    return [_conversation(prompts.clause_type_prompt(_clip(text[c.start:c.end], passage_chars), clause_types))
            for c in chunks]


def read_types(chunks: list[ChunkSpan], answers: list[str], clause_types: list[str]) -> Typed:
    """Map each answer to a clause type; answers naming none are counted, not guessed at."""
    out = Typed()
    for chunk, answer in zip(chunks, answers, strict=True):
        label = match_label(answer.strip().splitlines()[0] if answer.strip() else "", clause_types)
        if label is None:
            out.unmatched.append(answer)
        else:
            out.candidates.append(Candidate(chunk, label, answer))
    return out


def quote_conversations(text: str, candidates: list[Candidate]) -> list[list[dict[str, str]]]:
    return [_conversation(prompts.clause_quote_prompt(text[c.chunk.start:c.chunk.end], c.clause_type))
            for c in candidates]


def clauses_from(text: str, candidates: list[Candidate], quotes: list[str] | None) -> tuple[list[Clause], int]:
    """Clauses for the candidates; with quotes, drop 'Not found' ones and narrow to verbatim quotes.

    Returns the clauses and how many candidates the quote step rejected.
    """
    clauses: list[Clause] = []
    rejected = 0
    for i, cand in enumerate(candidates):
        start, end = cand.chunk.start, cand.chunk.end
        verified = None
        spans = [(start, end)]
        if quotes is not None:
            if is_not_found(quotes[i]):
                rejected += 1
                continue
            quoted = _quoted_spans(text, start, end, quotes[i])
            verified = bool(quoted)  # the model may say "present" yet quote words that are not there
            spans = quoted or spans
        for s, e in spans:
            clauses.append(Clause(type=cand.clause_type, start=s, end=e, text=text[s:e], source="model",
                                  section=cand.chunk.section, answer=cand.answer, verified=verified,
                                  passage_start=start, passage_end=end))
    return clauses, rejected


def _quoted_spans(text: str, start: int, end: int, quote: str) -> list[tuple[int, int]]:
    """Where each line of the model's quote occurs verbatim in text[start:end] (all lines, or nothing)."""
    spans = []
    pos = start
    for line in (q.strip().strip('"\u201c\u201d') for q in quote.splitlines()):
        if not line:
            continue
        at = text.find(line, pos, end) if len(line) >= MIN_QUOTE_CHARS else -1
        if at < 0:
            return []
        spans.append((at, at + len(line)))
        pos = at + len(line)
    return spans


def _clip(passage: str, max_chars: int) -> str:
    """Shorten at a word boundary, as the training rows' passages were."""
    if len(passage) <= max_chars:
        return passage
    cut = passage.rfind(" ", 0, max_chars)
    return passage[: cut if cut > max_chars // 2 else max_chars].rstrip() + " ..."


# The keyword fallback: off by default, and its clauses say source="keywords". It only fills in a clause
# type the model found nowhere, so a reviewer can tell a model finding from a keyword hit.
KEYWORDS: dict[str, re.Pattern[str]] = {name: re.compile(p, re.IGNORECASE) for name, p in {
    "Governing Law": r"\bgoverned\s+by\b|\bgoverning\s+law\b|\blaws?\s+of\s+the\s+state\s+of\b",
    "Renewal Term": r"\brenew(?:al|ed|s)?\b",
    "Cap on Liability": r"\blimitation\s+of\s+liability\b|\baggregate\s+liability\b"
                        r"|\bliability\b.{0,80}\b(?:shall\s+not|will\s+not|not\s+to)\s+exceed\b",
    "Insurance": r"\binsurance\b",
    "Audit Rights": r"\baudit\b",
    "Anti-Assignment": r"\bassign(?:ment)?\b.{0,80}\b(?:consent|without)\b",
    "Non-Compete": r"\bnon-?compet|\bnot\s+(?:to\s+)?compete\b",
    "Exclusivity": r"\bexclusive(?:ly)?\b(?!\s+jurisdiction)",
    "License Grant": r"\bgrants?\b.{0,60}\blicen[cs]e\b",
    "Termination for Convenience": r"\bterminat\w*\b.{0,80}\b(?:for\s+convenience|without\s+cause|for\s+any\s+reason)",
}.items()}


def keyword_clauses(text: str, chunks: list[ChunkSpan], wanted: list[str], found: set[str]) -> list[Clause]:
    """For each wanted type the model did not find and a keyword pattern exists for: the first matching chunk."""
    out: list[Clause] = []
    for clause_type in wanted:
        pattern = KEYWORDS.get(clause_type)
        if clause_type in found or pattern is None:
            continue
        for c in chunks:
            if pattern.search(text, c.start, c.end):
                out.append(Clause(type=clause_type, start=c.start, end=c.end, text=text[c.start:c.end],
                                  source="keywords", section=c.section, passage_start=c.start,
                                  passage_end=c.end))
                break
    return out
