"""The typed records that pass between stages: the project's backbone.

Every record names what it came from: a chunk its document and character span, a dataset row
its chunks, a model version its dataset hash and base model, an evaluation its model version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Span(BaseModel):
    """A half-open character range [start, end) in a document's text."""

    model_config = ConfigDict(frozen=True)
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class ClauseAnnotation(BaseModel):
    """A labelled clause (e.g. from CUAD): its type and exact character span in the document."""

    clause_type: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str


class LoadedDocument(BaseModel):
    """What a loader returns for one document, before it is stored in the vault."""

    title: str
    text: str
    format: Literal["txt", "md", "pdf", "docx", "cuad"]
    source_path: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    annotations: list[ClauseAnnotation] = Field(default_factory=list)


class LoadResult(BaseModel):
    """Documents read from one file plus non-fatal problems (e.g. a skipped annotation)."""

    documents: list[LoadedDocument] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class ChunkSpan(BaseModel):
    """A chunk boundary found by the chunker: text[start:end] under a section heading."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    section: str = ""


class Document(BaseModel):
    """A document stored in the vault."""

    id: str
    title: str
    format: str
    source_path: str
    sha256: str
    n_chars: int
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)


class Chunk(BaseModel):
    """A piece of a document, traceable to its document and character span."""

    id: str
    document_id: str
    index: int
    start: int
    end: int
    section: str
    text: str


class DatasetRow(BaseModel):
    """One chat-format training/evaluation example, pointing back to its sources."""

    id: str
    task: str
    split: Literal["train", "dev", "test"]
    messages: list[dict[str, str]]
    answer: str
    label: str | None = None
    choices: list[str] | None = None
    document_id: str
    chunk_ids: list[str] = Field(default_factory=list)
    span: Span | None = None


class DatasetInfo(BaseModel):
    """A built dataset: where its JSONL files are and the hash that model versions cite."""

    id: str
    name: str
    path: str
    sha256: str
    counts: dict[str, dict[str, int]]
    clause_types: list[str]
    created_at: datetime = Field(default_factory=utcnow)


class ModelVersion(BaseModel):
    """A trained adapter and its card: base model, dataset hash, recipe, metrics."""

    id: str
    name: str
    base_model: str
    adapter_path: str
    dataset_id: str
    dataset_sha256: str
    recipe: dict[str, Any]
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)


class EvalResult(BaseModel):
    """Scores of one model (stock base or a version) on one dataset split, per task."""

    id: str
    model: str
    model_version_id: str | None
    dataset_id: str | None
    dataset_path: str
    split: str
    metrics: dict[str, dict[str, Any]]
    created_at: datetime = Field(default_factory=utcnow)
