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
    """A label on a span of a document: a CUAD clause (kind "clause"), or a ContractNLI hypothesis
    (kind "nli": clause_type holds the hypothesis key, label Entailment/Contradiction/NotMentioned,
    extra the hypothesis text and every evidence span)."""

    clause_type: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    kind: str = "clause"
    label: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class DefinedTerm(BaseModel):
    """A term a document defines ("Licensed Product" means ...): the term's span and its definition's."""

    term: str
    start: int = Field(ge=0)  # span of the term itself (without quotes)
    end: int = Field(ge=0)
    definition_start: int = Field(ge=0)  # span of the whole definition sentence/paragraph
    definition_end: int = Field(ge=0)


class LoadedDocument(BaseModel):
    """What a loader returns for one document, before it is stored in the vault."""

    title: str
    text: str
    format: Literal["txt", "md", "pdf", "docx", "cuad", "html", "eml", "jsonl", "contract_nli"]
    source_path: str
    # Which part of a multi-document file this is ("" for a one-document file): a CUAD title, a JSONL
    # line, "attachment:NAME". With source_path it names the logical document across versions.
    part: str = ""
    # Index, in the same LoadResult.documents list, of the document this one is attached to (an
    # e-mail's attachment points at the e-mail); the vault turns it into a parent document id.
    parent_index: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    annotations: list[ClauseAnnotation] = Field(default_factory=list)


class LoadResult(BaseModel):
    """Documents read from one file plus non-fatal problems (e.g. a skipped annotation)."""

    documents: list[LoadedDocument] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


ChunkKind = Literal["body", "preamble", "recital", "definition", "signature"]


class ChunkSpan(BaseModel):
    """A chunk boundary found by the chunker: text[start:end] with its place in the structure."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    section: str = ""  # display label: the heading(s) of the section(s) the chunk covers
    heading_path: list[str] = Field(default_factory=list)  # outermost first: ["ARTICLE 12", "12.3 Indemnification"]
    kind: ChunkKind = "body"


class Document(BaseModel):
    """A document stored in the vault."""

    id: str
    title: str
    format: str
    source_path: str
    sha256: str  # of the text
    n_chars: int
    metadata: dict[str, Any] = Field(default_factory=dict)
    part: str = ""
    file_sha256: str | None = None  # of the file's bytes as ingested
    parent_id: str | None = None  # e.g. the e-mail an attachment came with
    family_id: str | None = None  # near-identical documents (same contract as PDF and DOCX) share one
    version: int = 1
    supersedes: str | None = None  # the previous version's document id
    is_latest: bool = True
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
    heading_path: list[str] = Field(default_factory=list)
    kind: str = "body"
    dup_of: str | None = None  # exact or near-duplicate of this (earlier) chunk: boilerplate


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
    # The builder that made the row, and the document metadata it inherits (client, matter,
    # jurisdiction, practice_area, document_type, family_id): what `data audit` spreads rows over.
    builder: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


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
    # Where it lives: "local" (a PEFT adapter at adapter_path) or "remote" (a provider's model:
    # `remote` holds backend, endpoint, provider job and model ids; adapter_path is empty).
    kind: Literal["local", "remote"] = "local"
    remote: dict[str, Any] | None = None


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


class Redaction(BaseModel):
    """One piece of personal data found in a document and what replaces it in datasets.

    `original` is kept only in the store's PII mapping table (reversible by an authorized user);
    datasets see `replacement` ("[PARTY_1]", "[EMAIL]", or the original when the policy keeps it).
    """

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    entity_type: str  # PARTY, PERSON, ADDRESS, EMAIL_ADDRESS, PHONE_NUMBER, IBAN_CODE, US_SSN, ...
    original: str
    replacement: str
