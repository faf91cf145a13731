"""What a contract analysis returns: clauses with spans, playbook flags, a summary, recommendations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from lextune.core.errors import LextuneError
from lextune.core.records import utcnow

Severity = Literal["high", "medium", "low"]
SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}


class AnalysisError(LextuneError):
    """A document cannot be analyzed (empty, several documents in one file, a bad model answer count)."""


class Extracted(BaseModel):
    """A value read from a clause by a regular expression (never by the model), with its span."""

    value: str | int | bool
    text: str = Field(description="The words the value was read from: document_text[start:end].")
    start: int
    end: int
    by: Literal["rules"] = "rules"


class Clause(BaseModel):
    """A clause found in the document: document_text[start:end] == text."""

    type: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    source: Literal["model", "keywords"] = Field(
        description="'model': the model named the passage's type; 'keywords': the keyword fallback found it.")
    section: str = ""
    answer: str = Field("", description="The model's raw answer to the clause-type question.")
    verified: bool | None = Field(
        None, description="True: asked to quote it, the model quoted it verbatim (the span is the quote); "
        "False: it answered but its quote is not in the passage (the span is the whole passage); "
        "None: not asked (no quote step). A 'Not found' answer drops the clause.")
    extracted: dict[str, Extracted] = Field(default_factory=dict)
    # The passage the model was shown (document offsets): what a reviewer reads the clause in.
    passage_start: int | None = Field(None, ge=0)
    passage_end: int | None = Field(None, ge=0)


class Span(BaseModel):
    start: int
    end: int
    clause: int | None = Field(None, description="Index into Analysis.clauses, when the span is a clause.")


class Flag(BaseModel):
    """One playbook rule the document breaks."""

    rule: str = Field(description="Which rule fired, e.g. 'required:Cap on Liability' or 'governing_law'.")
    severity: Severity
    message: str
    spans: list[Span] = Field(default_factory=list)
    recommendation: str = ""


class Analysis(BaseModel):
    """The whole result; `text` is the analyzed document text so every span can be checked and shown."""

    document: str
    sha256: str
    n_chars: int
    text: str
    model: str
    playbook: str
    clause_types: list[str] = Field(description="The options the model was asked to choose from.")
    clauses: list[Clause] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    summary: str = ""
    model_summary: str | None = None
    recommendations: list[str] = Field(default_factory=list)
    passages: int = Field(0, description="Passages (chunks) the model classified.")
    unmatched_answers: int = Field(0, description="Model answers that named no known clause type (ignored).")
    rejected_by_quote: int = Field(0, description="Candidates dropped because the model answered 'Not found'.")
    warnings: list[str] = Field(default_factory=list)
    trace: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    def clauses_of(self, clause_type: str) -> list[Clause]:
        return [c for c in self.clauses if c.type == clause_type]
