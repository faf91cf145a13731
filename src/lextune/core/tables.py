"""SQLAlchemy tables of the store: one row type per record that passes between stages.

Client text is sealed at rest (lextune.security.sealed_types): document text, titles, paths and metadata,
chunks, annotations, defined terms, the PII mapping, split units (client/matter names), evaluation
predictions, job messages (an exception can quote a training row) and embeddings. Sealing is randomised:
no SQL may filter, order or compare on those columns. Lookups use blind indexes instead (documents.source_key,
the full-text index in lextune.core.fts). The database types stay Text/JSON/LargeBinary, as the migrations made them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lextune.core.records import utcnow
from lextune.security.sealed_types import SealedBytes, SealedJSONColumn, SealedText


class Base(DeclarativeBase):
    pass


class DocumentRow(Base):
    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(SealedText("documents.title"))
    format: Mapped[str] = mapped_column(String(16))
    source_path: Mapped[str] = mapped_column(SealedText("documents.source_path"))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    n_chars: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(SealedText("documents.text"))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", SealedJSONColumn("documents.metadata"), default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Versions: one logical document per source (path + part of a multi-document file); a changed
    # file adds a new row that supersedes the latest one.
    part: Mapped[str] = mapped_column(SealedText("documents.part"), default="")  # a CUAD title, an attachment name
    # A blind index of the source (lextune.vault.vault.source_key): an HMAC, never the path itself.
    source_key: Mapped[str | None] = mapped_column(Text, default=None, index=True)
    file_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    parent_id: Mapped[str | None] = mapped_column(String(32), default=None)
    family_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes: Mapped[str | None] = mapped_column(String(32), default=None)
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # MinHash, for families


class AnnotationRow(Base):
    __tablename__ = "annotations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    clause_type: Mapped[str] = mapped_column(String(80))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(SealedText("annotations.text"))
    kind: Mapped[str] = mapped_column(String(16), default="clause")
    # label and extra stay plain: NLI labels and the hypothesis text come from the dataset, not the client.
    label: Mapped[str | None] = mapped_column(Text, default=None)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (Index("ix_annotations_doc", "document_id"),)


class DefinedTermRow(Base):
    __tablename__ = "defined_terms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    term: Mapped[str] = mapped_column(SealedText("defined_terms.term"))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    definition_start: Mapped[int] = mapped_column(Integer)
    definition_end: Mapped[int] = mapped_column(Integer)


class PiiRunRow(Base):
    """A document anonymized under one policy (config hash); its redactions are cached below."""

    __tablename__ = "pii_runs"
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    config_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    n_redactions: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PiiRedactionRow(Base):
    """The PII mapping: what was replaced by what, so an authorized user can reverse it.

    Kept in its own table, `original` sealed; datasets only ever see `replacement`.
    """

    __tablename__ = "pii_redactions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    config_hash: Mapped[str] = mapped_column(String(64))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    entity_type: Mapped[str] = mapped_column(String(40))
    original: Mapped[str] = mapped_column(SealedText("pii_redactions.original"))
    replacement: Mapped[str] = mapped_column(Text)  # a pseudonym or mask: what datasets show anyway
    __table_args__ = (Index("ix_pii_doc_cfg", "document_id", "config_hash"),)


class SplitAssignmentRow(Base):
    """A document's split, fixed the first time a build assigns it: later builds, whatever their
    seed or grouping, never move a document a model may have trained on into dev or test."""

    __tablename__ = "split_assignments"
    document_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    split: Mapped[str] = mapped_column(String(8))
    # The group it was split with: family:..., matter:..., client:... (a client name: sealed).
    unit: Mapped[str] = mapped_column(SealedText("split_assignments.unit"))
    seed: Mapped[int] = mapped_column(Integer)
    dataset_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChunkRow(Base):
    __tablename__ = "chunks"
    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(SealedText("chunks.section"), default="")
    text: Mapped[str] = mapped_column(SealedText("chunks.text"))
    heading_path: Mapped[list[str]] = mapped_column(SealedJSONColumn("chunks.heading_path"), default=list)
    kind: Mapped[str] = mapped_column(String(16), default="body")
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # MinHash, for dedup
    dup_of: Mapped[str | None] = mapped_column(String(48), default=None)
    __table_args__ = (Index("ix_chunks_doc", "document_id", "idx"),)


class DatasetRowDB(Base):
    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    clause_types: Mapped[list[str]] = mapped_column(JSON)
    manifest: Mapped[dict[str, Any]] = mapped_column(SealedJSONColumn("datasets.manifest"), default=dict)  # may name clients (--where)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Lineage of erasures (lextune.vault.forget): which forgotten documents it held rows from, when, why.
    affected_by_erasure: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)


class TrainingJobRow(Base):
    """A fine-tuning job; `status` takes the OpenAI job states (see lextune.train.jobs.JOB_STATES)."""

    __tablename__ = "training_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    dataset_id: Mapped[str] = mapped_column(String(32))
    base_model: Mapped[str] = mapped_column(Text)
    recipe: Mapped[dict[str, Any]] = mapped_column(JSON)
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    last_loss: Mapped[float | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(SealedText("training_jobs.error"), default=None)  # may quote a row
    model_version_id: Mapped[str | None] = mapped_column(String(32), default=None)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    version_name: Mapped[str | None] = mapped_column(Text, default=None)  # asked for with --name
    run_dir: Mapped[str | None] = mapped_column(Text, default=None)  # checkpoints live here
    backend: Mapped[str] = mapped_column(String(32), default="local")
    remote: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # provider ids and state
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    pid: Mapped[int | None] = mapped_column(Integer, default=None)  # the training process (local jobs)
    host: Mapped[str | None] = mapped_column(Text, default=None)
    final_loss: Mapped[float | None] = mapped_column(default=None)


class JobEventRow(Base):
    """What a job said, in order: level, message and metrics (the job's log)."""

    __tablename__ = "training_job_events"
    __table_args__ = (Index("ix_job_events_job", "job_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("training_jobs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    level: Mapped[str] = mapped_column(String(8), default="info")
    message: Mapped[str] = mapped_column(SealedText("training_job_events.message"))  # errors may quote a row
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class JobCheckpointRow(Base):
    """A resumable checkpoint of a job (the folder is whole once this row exists)."""

    __tablename__ = "training_job_checkpoints"
    __table_args__ = (Index("ix_job_checkpoints_job", "job_id", "step"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("training_jobs.id"))
    step: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    base_model: Mapped[str] = mapped_column(Text)
    adapter_path: Mapped[str] = mapped_column(Text)
    dataset_id: Mapped[str] = mapped_column(String(32))
    dataset_sha256: Mapped[str] = mapped_column(String(64))
    recipe: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16), default="local")  # local adapter | remote (provider model)
    remote: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Trained on data from documents since forgotten (lextune.vault.forget): retrain without them.
    affected_by_erasure: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)


class ActiveModelRow(Base):
    """At most one active version per scope; NULL version means the stock base model."""

    __tablename__ = "active_models"
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("model_versions.id"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelActivationRow(Base):
    """Activation history of a scope, newest last (lextune.registry.rollout): what `models rollback` undoes.

    `action` is activate, stock, promote (a canary made active) or rollback; a rolled-back entry gets
    `undone` set, so a second rollback steps one further back instead of swapping two versions."""

    __tablename__ = "model_activations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64), index=True)
    model_version_id: Mapped[str | None] = mapped_column(String(32), default=None)  # None: the stock model
    previous_version_id: Mapped[str | None] = mapped_column(String(32), default=None)
    action: Mapped[str] = mapped_column(String(16))
    undone: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelCanaryRow(Base):
    """Blue-green / A/B: a candidate answering `share` of a scope's alias requests, at most one per scope.

    Which arm a request gets is a hash of the scope, the candidate and the request's routing key (its
    user, else its request id), so one user always sees one model while the canary runs."""

    __tablename__ = "model_canaries"
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    share: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvalRunRow(Base):
    __tablename__ = "eval_runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(Text)
    model_version_id: Mapped[str | None] = mapped_column(String(32), default=None)
    dataset_id: Mapped[str | None] = mapped_column(String(32), default=None)
    dataset_path: Mapped[str] = mapped_column(Text)
    split: Mapped[str] = mapped_column(String(16))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # One run = one model on one task (evaluation issue): what was scored and with which code, so a
    # number can be traced and recomputed from the predictions kept in eval_predictions.
    task: Mapped[str | None] = mapped_column(Text, default=None)
    kind: Mapped[str | None] = mapped_column(String(32), default=None)
    data_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    code_version: Mapped[str | None] = mapped_column(String(64), default=None)
    n: Mapped[int | None] = mapped_column(Integer, default=None)
    baselines: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    notes: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # ids and counts, no text


class EvalPredictionRow(Base):
    """One prediction of one run (an evals.records.Prediction as JSON), in the run's example order."""

    __tablename__ = "eval_predictions"
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    example_id: Mapped[str] = mapped_column(Text)
    doc_id: Mapped[str | None] = mapped_column(Text, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(SealedJSONColumn("eval_predictions.payload"))  # quotes prompts


class EvalComparisonRow(Base):
    """One `eval compare A B`: the report (tasks, CIs, verdict) that `models activate` consults for B."""

    __tablename__ = "eval_comparisons"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    a_version_id: Mapped[str | None] = mapped_column(String(32), default=None)
    b_version_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEventRow(Base):
    """Append-only (enforced by triggers on SQLite). `hash` is an HMAC over the row and `prev_hash`
    (rows before the head's `keyed_from`: plain sha256, as lextune wrote them before); see core/audit.py."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The audit trail's head, a single row (id 1) updated in the transaction of every append.

    An append UPDATEs it before reading the previous MAC, so appends are serialised on every database
    (a row lock on PostgreSQL, the write lock on SQLite) and never chain to the same previous row.
    """

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n_rows: Mapped[int] = mapped_column(Integer)
    last_id: Mapped[int] = mapped_column(Integer)
    last_mac: Mapped[str] = mapped_column(String(64))
    keyed_from: Mapped[int] = mapped_column(Integer)  # first id under the keyed MAC; earlier rows: legacy sha256


class ChunkVectorRow(Base):
    """A chunk's dense embedding (L2-normalized float32 bytes) for hybrid retrieval (lextune.rag.vectors).

    One vector per chunk and embedder; a changed embedder recomputes them. Searched in memory with numpy:
    pgvector or faiss is the scale-out when a vault outgrows one machine's memory."""

    __tablename__ = "chunk_vectors"
    chunk_id: Mapped[str] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(Text)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(SealedBytes("chunk_vectors.vector"))  # invertible to approximate text


class ErasureRow(Base):
    """A forgotten document's tombstone (lextune.vault.forget): its id and hashes, never its title or path
    (either can itself be personal data), so that ingesting the same text again is recognised and refused."""

    __tablename__ = "erasures"
    document_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # of the text, as documents.sha256
    file_sha256: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    forgotten_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    audit_id: Mapped[int | None] = mapped_column(Integer, default=None)  # its vault.forget audit row
