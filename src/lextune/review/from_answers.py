"""A cited answer as a review candidate: the passages the model was shown, the one its first citation names
highlighted, and its answer as verified.

The item's prompt is the exact user message the model answered (so a correction trains on what it saw), and
its source text is the numbered passages as that message shows them. Confidence is the share of the
model's statements that verification kept (each cites a passage that supports it); an answer verification
emptied scores 0, and a refusal the model was not asked for (nothing retrieved confidently) has none.
"""

from __future__ import annotations

import re

from lextune.data import prompts
from lextune.rag.records import GroundedAnswer, Retrieval
from lextune.review.candidates import ReviewCandidate

_QUOTED = re.compile(r"[\"\u201c]([^\"\u201d]{8,})[\"\u201d]")
_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"[^.;\n]+[.;]?")


def statement_confidence(answer: GroundedAnswer) -> float | None:
    """Kept statements / all the model's statements; None when the model made none (a refusal)."""
    kept = len({c.sentence for c in answer.citations if c.supported})
    total = kept + answer.removed
    return kept / total if total else (0.0 if answer.reason in ("uncited", "unsupported") else None)


def claim_span(passage: str, claim: str) -> tuple[int, int]:
    """Where in `passage` a claim's words are: a quote of it found verbatim, else the passage sentence
    sharing most words with it, else the whole passage."""
    for quote in _QUOTED.findall(claim):
        at = passage.find(quote.strip())
        if at >= 0:
            return at, at + len(quote.strip())
    words = {w.lower() for w in _WORD.findall(claim)}
    best, span = 0, (0, len(passage))
    for m in _SENTENCE.finditer(passage):
        shared = len(words & {w.lower() for w in _WORD.findall(m.group(0))})
        if shared > best:
            best, span = shared, (m.start(), m.end())
    return span


def cited_answer_candidate(question: str, retrieval: Retrieval, answer: GroundedAnswer, *, key: str,
                           model_version: str | None, matter: str | None, request_id: str | None,
                           why: str | None = None) -> ReviewCandidate:
    passages = sorted(retrieval.passages, key=lambda p: p.number)
    texts = [p.text for p in passages]
    source = prompts.numbered_passages(texts)
    cited = [c for c in answer.citations if c.supported] or answer.citations
    span, document_id = None, passages[0].document_id if passages else None
    shown = {p.number: p for p in passages}
    if cited and cited[0].number in shown:
        p = shown[cited[0].number]
        block = source.index(f"[{p.number}]\n{p.text}") + len(f"[{p.number}]\n")  # as numbered_passages shows it
        start, end = claim_span(p.text, cited[0].sentence)
        span, document_id = (block + start, block + end), p.document_id
    return ReviewCandidate(
        key=key, task="cited_answer", source_text=source, span_start=span[0] if span else None,
        span_end=span[1] if span else None, prompt=prompts.cited_qa_prompt(question, texts),
        output={"text": answer.text, "refused": answer.refused, "reason": answer.reason,
                "cited": sorted({c.number for c in answer.citations if c.supported}),
                **({"model_text": answer.raw_text} if answer.raw_text and answer.raw_text != answer.text else {})},
        confidence=statement_confidence(answer), matter=matter, document_id=document_id,
        model_version=model_version, request_id=request_id,
        extra={"question": question, "why": why, "mode": retrieval.mode,
               "retrieval_confidence": round(retrieval.confidence, 4),
               "chunks": [p.chunk_id for p in passages]})
