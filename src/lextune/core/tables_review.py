"""The review queue: model outputs waiting for a lawyer (accept / correct / reject), and what they decided.

Every producer (clause extraction, privilege calls, cited answers, contract analyses) enqueues here; the
review screen works the queue; accepted and corrected items become training rows (the `corrections`
builder), with the reviewer and the time kept. Client text is sealed like every other column holding it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lextune.core.records import utcnow
from lextune.core.tables import Base
from lextune.security.sealed_types import SealedJSONColumn, SealedText

REVIEW_TASKS = ("clause_extraction", "privilege", "cited_answer", "contract_analysis")
REVIEW_STATES = ("pending", "accepted", "corrected", "rejected")


class ReviewItemRow(Base):
    __tablename__ = "review_items"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    task: Mapped[str] = mapped_column(String(32))  # one of REVIEW_TASKS
    matter: Mapped[str | None] = mapped_column(Text, default=None)
    document_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # The passage the reviewer sees, and the span of it the model cited or extracted (offsets into it).
    source_text: Mapped[str] = mapped_column(SealedText("review_items.source_text"))
    span_start: Mapped[int | None] = mapped_column(Integer, default=None)
    span_end: Mapped[int | None] = mapped_column(Integer, default=None)
    prompt: Mapped[str | None] = mapped_column(SealedText("review_items.prompt"), default=None)
    output: Mapped[dict[str, Any]] = mapped_column(SealedJSONColumn("review_items.output"))  # e.g. {"label", "text"}
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    model_version: Mapped[str | None] = mapped_column(Text, default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # one of REVIEW_STATES
    correction: Mapped[dict[str, Any] | None] = mapped_column(SealedJSONColumn("review_items.correction"), default=None)
    reviewer: Mapped[str | None] = mapped_column(String(120), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    extra: Mapped[dict[str, Any] | None] = mapped_column(SealedJSONColumn("review_items.extra"), default=None)
    __table_args__ = (Index("ix_review_items_queue", "status", "task", "created_at"),)
