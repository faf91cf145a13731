"""What the privilege pipeline reads (PrivilegeDoc) and what it decides per document (PrivilegeCall)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

CATEGORIES = ("privileged", "partially_privileged", "not_privileged")
Category = Literal["privileged", "partially_privileged", "not_privileged"]


class PrivilegeDoc(BaseModel):
    id: str
    date: str = ""
    author: str = ""
    recipients: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    subject: str = ""
    body: str = ""
    doc_type: str = "email"  # email, memo, press_release, ...
    # Only in labelled samples:
    label: Category | None = None
    split: str | None = None
    synthetic: bool | None = None
    kind: str | None = None  # the generator's sub-kind (attorney_client, lawyer_cc_only, ...)
    # Labelled partially privileged documents may mark the privileged passage(s): [start, end) offsets into
    # text() (the synthetic generator marks its legal-advice paragraph). Only the evaluation reads them.
    privileged_spans: list[tuple[int, int]] | None = None

    def text(self) -> str:
        return f"{self.subject}\n\n{self.body}"


class RedactSpan(BaseModel):
    """A passage to redact: [start, end) offsets into the document's text() (subject, blank line, body)."""

    start: int
    end: int
    score: float  # the stage-1 model's privilege score of the paragraph on its own
    reasons: list[str]  # the paragraph's own signals (privilege markers, an attorney named in it)


class PrivilegeCall(BaseModel):
    doc_id: str
    stage1_score: float
    stage1_pass: bool
    category: Category
    probabilities: dict[str, float]
    uncertainty: float  # 1 - margin between the two most likely categories
    disagreement: float  # share of stage-2 members whose call differs from the combined one
    reasons: list[str]  # the named features that fired
    privilege_asserted: str = ""
    description: str = ""
    needs_review: bool = False
    llm_probabilities: dict[str, float] | None = None
    # Partially privileged calls: the paragraph(s) to redact, most likely first (offsets only, never text).
    redact: list[RedactSpan] = Field(default_factory=list)
