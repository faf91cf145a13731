"""A producer's output waiting for review, and the one writer that puts candidates in the queue."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, Field, model_validator

from lextune.core.store import Store


class ReviewCandidate(BaseModel):
    """One model output for the queue: the passage the reviewer reads, the span of it the output cites or
    extracts (offsets into `source_text`), the output, and where it came from."""

    key: str = Field(description="Unique per output (request id and position): the item id is its hash, so "
                                 "enqueueing the same output twice keeps one item.")
    id: str | None = Field(None, max_length=32, description="The item id, when the producer names its items "
                                                            "itself (the privilege run: run and document).")
    task: str
    source_text: str
    span_start: int | None = None
    span_end: int | None = None
    prompt: str | None = None
    output: dict[str, Any]
    confidence: float | None = Field(None, ge=0, le=1)
    matter: str | None = None
    document_id: str | None = None
    model_version: str | None = None
    request_id: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _span_inside(self) -> ReviewCandidate:
        if (self.span_start is None) != (self.span_end is None):
            raise ValueError("span_start and span_end go together")
        if self.span_start is not None and not 0 <= self.span_start <= self.span_end <= len(self.source_text):
            raise ValueError(f"span {self.span_start}-{self.span_end} is outside the source text "
                             f"({len(self.source_text)} chars)")
        return self

    @property
    def item_id(self) -> str:
        return self.id or hashlib.sha256(f"{self.task}\0{self.key}".encode()).hexdigest()[:32]


def enqueue(store: Store, candidates: list[ReviewCandidate]) -> list[str]:
    """Write the candidates as pending review items (an id already queued is left as it is); their ids."""
    from lextune.core.tables_review import ReviewItemRow

    ids = []
    with store.session() as s:
        for c in candidates:
            ids.append(c.item_id)
            if s.get(ReviewItemRow, c.item_id) is not None:
                continue  # already queued (or already decided): a retry must not reopen it
            s.add(ReviewItemRow(
                id=c.item_id, task=c.task, matter=c.matter, document_id=(c.document_id or None) and c.document_id[:32],
                source_text=c.source_text, span_start=c.span_start, span_end=c.span_end, prompt=c.prompt,
                output=c.output, confidence=None if c.confidence is None else round(c.confidence, 4),
                model_version=c.model_version, request_id=c.request_id, status="pending",
                extra=c.extra or None))
    return ids
