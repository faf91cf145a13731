"""The Vault: ingest files into documents and chunks with provenance, and read them back."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import select, text

from lextune.core import audit
from lextune.core.errors import IngestError, NotFoundError
from lextune.core.records import Chunk, ClauseAnnotation, Document, LoadedDocument
from lextune.core.store import Store
from lextune.core.tables import AnnotationRow, ChunkRow, DocumentRow
from lextune.vault.chunker import chunk_text
from lextune.vault.loaders import SUPPORTED_SUFFIXES, file_kind, load_path


class IngestReport(BaseModel):
    """What one ingest did: nothing is silently dropped."""

    added: list[str] = Field(default_factory=list)  # document ids
    duplicates: list[str] = Field(default_factory=list)  # titles already in the vault
    errors: list[str] = Field(default_factory=list)  # "path: reason", file skipped
    warnings: list[str] = Field(default_factory=list)  # e.g. skipped annotations
    n_chunks: int = 0


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus supported files found under named folders (sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and file_kind(f) in SUPPORTED_SUFFIXES))
        else:
            out.append(p)
    return out


def document_id(doc: LoadedDocument) -> str:
    return "doc-" + hashlib.sha256(doc.text.encode()).hexdigest()[:12]


class Vault:
    """Documents and chunks in the store."""

    def __init__(self, store: Store, max_chunk_chars: int = 1500):
        self.store = store
        self.max_chunk_chars = max_chunk_chars

    def ingest(
        self, paths: Iterable[Path], on_file: Callable[[Path], None] | None = None
    ) -> IngestReport:
        """Load, chunk and store every file; a bad file is reported and skipped, the rest goes on."""
        report = IngestReport()
        for path in expand_paths(paths):
            try:
                result = load_path(path)
            except IngestError as e:
                report.errors.append(str(e))
            else:
                report.warnings.extend(result.warnings)
                for doc in result.documents:
                    self._add(doc, report)
            if on_file:
                on_file(path)
        return report

    def _add(self, doc: LoadedDocument, report: IngestReport) -> None:
        doc_id = document_id(doc)
        sha = hashlib.sha256(doc.text.encode()).hexdigest()
        spans = chunk_text(doc.text, max_chars=self.max_chunk_chars)
        with self.store.session() as s:
            if s.get(DocumentRow, doc_id) is not None:
                report.duplicates.append(doc.title)
                return
            s.add(DocumentRow(
                id=doc_id, title=doc.title, format=doc.format, source_path=doc.source_path,
                sha256=sha, n_chars=len(doc.text), text=doc.text, meta=doc.metadata,
            ))
            s.flush()
            for a in doc.annotations:
                s.add(AnnotationRow(document_id=doc_id, clause_type=a.clause_type,
                                    start=a.start, end=a.end, text=a.text))
            for i, sp in enumerate(spans):
                cid = f"{doc_id}:{i:04d}"
                s.add(ChunkRow(id=cid, document_id=doc_id, idx=i, start=sp.start, end=sp.end,
                               section=sp.section, text=doc.text[sp.start:sp.end]))
            s.flush()
            if self.store.is_sqlite:
                s.execute(
                    text("INSERT INTO chunks_fts(chunk_id, section, text) VALUES (:c, :s, :t)"),
                    [{"c": f"{doc_id}:{i:04d}", "s": sp.section, "t": doc.text[sp.start:sp.end]}
                     for i, sp in enumerate(spans)],
                )
            audit.record(s, "ingest", doc_id, {"title": doc.title, "source": doc.source_path,
                                               "chunks": len(spans), "annotations": len(doc.annotations)})
        report.added.append(doc_id)
        report.n_chunks += len(spans)

    def documents(self) -> list[Document]:
        with self.store.session() as s:
            rows = s.scalars(select(DocumentRow).order_by(DocumentRow.created_at, DocumentRow.id))
            return [_doc(r) for r in rows]

    def document_text(self, doc_id: str) -> str:
        with self.store.session() as s:
            row = s.get(DocumentRow, doc_id)
            if row is None:
                raise NotFoundError(f"no document '{doc_id}' in the vault")
            return row.text

    def chunks(self, doc_id: str) -> list[Chunk]:
        with self.store.session() as s:
            rows = s.scalars(select(ChunkRow).where(ChunkRow.document_id == doc_id).order_by(ChunkRow.idx))
            return [_chunk(r) for r in rows]

    def annotations(self, doc_id: str) -> list[ClauseAnnotation]:
        with self.store.session() as s:
            rows = s.scalars(select(AnnotationRow).where(AnnotationRow.document_id == doc_id)
                             .order_by(AnnotationRow.start))
            return [ClauseAnnotation(clause_type=r.clause_type, start=r.start, end=r.end, text=r.text)
                    for r in rows]

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        with self.store.session() as s:
            rows = s.scalars(select(ChunkRow).where(ChunkRow.id.in_(chunk_ids)))
            return {r.id: _chunk(r) for r in rows}


def _doc(r: DocumentRow) -> Document:
    return Document(id=r.id, title=r.title, format=r.format, source_path=r.source_path,
                    sha256=r.sha256, n_chars=r.n_chars, metadata=r.meta or {}, created_at=r.created_at)


def _chunk(r: ChunkRow) -> Chunk:
    return Chunk(id=r.id, document_id=r.document_id, index=r.idx, start=r.start, end=r.end,
                 section=r.section, text=r.text)
