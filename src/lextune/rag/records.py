"""What the RAG stage passes around: shown passages, a retrieval, per-citation verdicts, a grounded answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

REFUSAL = "The documents provided do not address this."
Mode = Literal["bm25", "hybrid"]
MODES: tuple[str, ...] = ("bm25", "hybrid")
Evidence = Literal["quote", "overlap", "contained", "not_retrieved", "unsupported"]


class Passage(BaseModel):
    """A retrieved passage exactly as the model is shown it: `document_text[start:end] == text`."""

    number: int  # cited as [number]
    chunk_id: str
    document_id: str
    title: str
    section: str
    start: int
    end: int
    text: str
    score: float  # the fused (or BM25) ranking score; higher is better


class Retrieval(BaseModel):
    question: str
    mode: str  # "bm25" | "hybrid": asked per request, reported with every answer
    passages: list[Passage]
    confident: bool  # confidence reached the mode's threshold (rag.retrieve.MIN_CONFIDENCE)
    confidence: float


class CitationCheck(BaseModel):
    """One citation [number] of one cited sentence or quote, checked against the passage shown as [number]."""

    number: int
    chunk_id: str | None
    document_id: str | None
    start: int | None
    end: int | None
    sentence: str  # the claim the citation backs (tags removed)
    supported: bool
    evidence: Evidence


class GroundedAnswer(BaseModel):
    text: str  # the reply: supported statements only (failures stripped and flagged), or the refusal
    raw_text: str  # what the model said
    refused: bool
    reason: str | None  # low_confidence | model_not_found | uncited | unsupported | no_passages
    citations: list[CitationCheck]
    passages: list[Passage]
    uncited: list[str] = Field(default_factory=list)  # statements that cite nothing (dropped from `text`)
    removed: int = 0  # statements stripped from `text` for failing the check
