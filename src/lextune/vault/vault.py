"""The Vault: ingest files into documents and chunks with provenance, and read them back.

Ingest streams: files are found lazily, prepared (loaded, chunked, signed) in worker processes a
bounded number at a time, and written to the store one transaction per file in the order found,
so memory stays flat however large the corpus and the result does not depend on worker timing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Select, insert, select, update
from sqlalchemy.orm import Session, defer

from lextune.core import audit, fts
from lextune.core.errors import NotFoundError
from lextune.core.records import Chunk, ClauseAnnotation, DefinedTerm, Document
from lextune.core.store import Store
from lextune.core.tables import AnnotationRow, ChunkRow, DefinedTermRow, DocumentRow
from lextune.security.keyring import CiphertextError, Keyring
from lextune.vault.dedup import NearDupIndex, is_current, signature_bytes, signature_from_bytes
from lextune.vault.forget import refuse_forgotten
from lextune.vault.ingest_worker import PreparedDocument, PreparedFile, prepare_file
from lextune.vault.metadata import is_metadata_file

_MIN_FILES_FOR_WORKERS = 8


class IngestReport(BaseModel):
    """What one ingest did: nothing is silently dropped."""

    added: list[str] = Field(default_factory=list)  # document ids
    new_versions: list[str] = Field(default_factory=list)  # "title: v2 supersedes doc-..."
    duplicates: list[str] = Field(default_factory=list)  # titles already in the vault
    errors: list[str] = Field(default_factory=list)  # "path: reason", file skipped
    skip_reasons: list[str] = Field(default_factory=list)  # the reason alone, parallel to errors
    warnings: list[str] = Field(default_factory=list)  # e.g. skipped annotations, lines, pages
    n_chunks: int = 0
    n_files: int = 0

    @property
    def anything_skipped(self) -> bool:
        return bool(self.errors or self.warnings)

    def skip_summary(self) -> list[tuple[str, int]]:
        """(reason, count) over skipped files, most common first: what `ingest` prints at the end."""
        return Counter(_reason_kind(r) for r in self.skip_reasons).most_common()


def _reason_kind(reason: str) -> str:
    """A reason without its file-specific details (byte offsets, exception text), for grouping."""
    short = reason
    for sep in (" (", ":", ";"):
        short = short.split(sep, 1)[0]
    return short.strip() or reason


def iter_files(paths: Iterable[Path], exclude: Iterable[Path] = ()) -> Iterator[Path]:
    """Files named directly, plus every file under named folders (sorted per folder), lazily.

    Unsupported files are yielded too, so ingest reports them instead of silently ignoring them;
    hidden files, metadata sidecars and `exclude` folders (lextune's own state) are passed over.
    """
    skip = {Path(e).resolve() for e in exclude}
    for p in paths:
        p = Path(p)
        if not p.is_dir():
            yield p
            continue
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (Path(root) / d).resolve() not in skip)
            for name in sorted(files):
                f = Path(root) / name
                if not name.startswith(".") and not is_metadata_file(f):
                    yield f


def document_id(text_sha256: str) -> str:
    return "doc-" + text_sha256[:12]


def source_key(keyring: Keyring, key: str) -> str:
    """The blind index of a source ("path#part": file names carry client names): an HMAC under the index key.

    Deterministic, so the versions of one source find each other; the path itself is only in the sealed
    documents.source_path."""
    return hmac.new(keyring.index_key, b"lextune:source_key\0" + key.encode("utf-8"), hashlib.sha256).hexdigest()


def _blind_legacy_source_keys(session: Session, keyring: Keyring) -> int:
    """Replace plaintext source keys ("path#part", from before blinding; a blind key has no '#')."""
    rows = session.execute(select(DocumentRow.id, DocumentRow.source_key)
                           .where(DocumentRow.source_key.like("%#%"))).all()
    for doc_id, key in rows:
        session.execute(update(DocumentRow).where(DocumentRow.id == doc_id)
                        .values(source_key=source_key(keyring, key)))
    return len(rows)


def _unreadable(session: Session, row_type: Any, ids: Iterable[Any]) -> Any | None:
    """The first of these records whose sealed columns fail to open (rows probed one by one)."""
    table = row_type.__table__
    for i in ids:
        try:
            session.execute(select(table).where(table.c.id == i)).all()
        except CiphertextError:
            return i
    return None


@contextmanager
def naming_unreadable(session: Session, row_type: Any, ids: Select | Iterable[Any], what: str):
    """Re-raise a CiphertextError met while reading records with the record named ("chunk doc-1:0003: ...").

    `ids`: the records read (or a select of their ids), probed one by one only when an error occurred."""
    try:
        yield
    except CiphertextError as e:
        bad = _unreadable(session, row_type, session.scalars(ids) if isinstance(ids, Select) else ids)
        if bad is None:
            raise
        raise CiphertextError(f"{what} {bad}: {e}") from e


class Vault:
    """Documents and chunks in the store."""

    def __init__(self, store: Store, max_chunk_chars: int = 1500, workers: int | None = None):
        self.store = store
        self.max_chunk_chars = max_chunk_chars
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._families: NearDupIndex | None = None
        self.min_files_for_workers = _MIN_FILES_FOR_WORKERS
        self._legacy_keys_checked = False

    # ------------------------------------------------------------------ ingest
    def ingest(
        self, paths: Iterable[Path], on_file: Callable[[Path], None] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> IngestReport:
        """Load, chunk and store every file; a bad file is reported and skipped, the rest goes on."""
        report = IngestReport()
        files = iter_files(paths, exclude=[self.store.settings.home])
        for prepared in self._prepared(files, metadata or {}):
            report.n_files += 1
            if prepared.error:
                report.errors.append(prepared.error)
                report.skip_reasons.append(prepared.reason or prepared.error)
            else:
                report.warnings.extend(prepared.warnings)
                self._store_file(prepared, report)
            if on_file:
                on_file(Path(prepared.path))
        return report

    def _prepared(self, files: Iterator[Path], meta: dict[str, Any]) -> Iterator[PreparedFile]:
        """Prepare files in worker processes, at most 2 x workers in flight, yielded in input order."""
        # Starting worker processes costs about a second each: worth it only for a real batch.
        first = list(_take(files, self.min_files_for_workers))
        if self.workers == 1 or len(first) < self.min_files_for_workers:
            for f in [*first, *files]:
                yield prepare_file(str(f), meta, self.max_chunk_chars)
            return
        # spawn, not fork: the parent may hold torch/OpenMP threads that a forked child would inherit.
        with ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                 initializer=_worker_init) as pool:
            pending: list[Future[PreparedFile]] = []
            for f in [*first, *files]:
                pending.append(pool.submit(prepare_file, str(f), meta, self.max_chunk_chars))
                if len(pending) >= 2 * self.workers:
                    yield pending.pop(0).result()
            for fut in pending:
                yield fut.result()

    def _family_index(self) -> NearDupIndex:
        if self._families is None:
            self._families = NearDupIndex()
            with self.store.session() as s:
                for doc_id, sig in s.execute(select(DocumentRow.id, DocumentRow.signature)):
                    if not is_current(sig):  # an older scheme or a database from before signatures
                        row = s.get(DocumentRow, doc_id)
                        sig = row.signature = signature_bytes(row.text)
                    self._families.insert(doc_id, signature_from_bytes(sig))
        return self._families

    def _store_file(self, prepared: PreparedFile, report: IngestReport) -> None:
        ids: list[str] = []
        many = len(prepared.documents) > 1
        for prep in prepared.documents:
            if many and not prep.doc.part:
                # Several documents in one file: each is its own logical document, named by title.
                prep = prep.model_copy(update={"doc": prep.doc.model_copy(update={"part": prep.doc.title})})
            parent = None
            if prep.doc.parent_index is not None and 0 <= prep.doc.parent_index < len(ids):
                parent = ids[prep.doc.parent_index]
            ids.append(self._store_document(prep, prepared.file_sha256, parent, report))

    def _store_document(
        self, prep: PreparedDocument, file_sha: str | None, parent_id: str | None, report: IngestReport
    ) -> str:
        doc = prep.doc
        doc_id = document_id(prep.text_sha256)
        key = source_key(self.store.keyring, f"{Path(doc.source_path).resolve()}#{doc.part}")
        with self.store.session() as s:
            if not self._legacy_keys_checked:
                _blind_legacy_source_keys(s, self.store.keyring)
                self._legacy_keys_checked = True
            if refuse_forgotten(s, prep.text_sha256, doc.title, report):  # erased on request: never re-added silently
                return doc_id
            if s.get(DocumentRow, doc_id) is not None:
                report.duplicates.append(doc.title)
                return doc_id
            previous = s.scalars(select(DocumentRow).where(DocumentRow.source_key == key,
                                                           DocumentRow.is_latest.is_(True))).first()
            signature = signature_from_bytes(prep.signature)
            if previous is not None:
                family, version = previous.family_id, previous.version + 1
                previous.is_latest = False
            else:
                matches = sorted(self._family_index().query(signature))
                family = _family_of(s, matches) or "fam-" + doc_id[4:]
                version = 1
            s.add(DocumentRow(
                id=doc_id, title=doc.title, format=doc.format, source_path=doc.source_path,
                sha256=prep.text_sha256, n_chars=len(doc.text), text=doc.text, meta=doc.metadata,
                part=doc.part, source_key=key, file_sha256=file_sha, parent_id=parent_id,
                family_id=family, version=version, supersedes=previous.id if previous else None,
                is_latest=True, signature=prep.signature,
            ))
            s.flush()
            # Core bulk inserts: building ORM objects for tens of thousands of chunk and term rows cost
            # more than the inserts themselves (the parent's serial share caps parallel ingest).
            if doc.annotations:
                s.execute(insert(AnnotationRow), [
                    {"document_id": doc_id, "clause_type": a.clause_type, "start": a.start, "end": a.end,
                     "text": a.text, "kind": a.kind, "label": a.label, "extra": a.extra} for a in doc.annotations])
            if prep.defined_terms:
                s.execute(insert(DefinedTermRow), [{"document_id": doc_id, **t.model_dump()}
                                                   for t in prep.defined_terms])
            chunk_rows = [
                {"id": f"{doc_id}:{i:04d}", "document_id": doc_id, "idx": i, "start": sp.start, "end": sp.end,
                 "section": sp.section, "heading_path": sp.heading_path, "kind": sp.kind,
                 "text": doc.text[sp.start:sp.end], "signature": sig, "dup_of": None}
                for i, (sp, sig) in enumerate(zip(prep.chunks, prep.chunk_signatures, strict=True))
            ]
            if chunk_rows:
                s.execute(insert(ChunkRow), chunk_rows)
                fts.index_chunks(s, self.store.keyring, [(c["id"], c["section"], c["text"]) for c in chunk_rows])
            # Ids and hashes only: a title or a path can itself be personal data, and the trail is append-only
            # (`lextune vault forget` could not take it back out).
            audit.record(s, "ingest", doc_id, {
                "file_sha256": file_sha, "text_sha256": prep.text_sha256, "part": doc.part, "version": version,
                "supersedes": previous.id if previous else None, "family": family,
                "chunks": len(chunk_rows), "annotations": len(doc.annotations),
                "defined_terms": len(prep.defined_terms),
            })
        self._family_index().insert(doc_id, signature)
        report.added.append(doc_id)
        if previous is not None:
            report.new_versions.append(f"{doc.title}: v{version} supersedes {previous.id}")
        report.n_chunks += len(chunk_rows)
        return doc_id

    # ------------------------------------------------------------------ read
    # A sealed value that fails to open raises CiphertextError naming its column; these name the record too.
    def documents(self, latest_only: bool = False) -> list[Document]:
        with self.store.session() as s:
            # Not the text: every document's would be opened (decrypted) to list them.
            q = select(DocumentRow).options(defer(DocumentRow.text)).order_by(DocumentRow.created_at, DocumentRow.id)
            if latest_only:
                q = q.where(DocumentRow.is_latest.is_not(False))
            with naming_unreadable(s, DocumentRow, select(DocumentRow.id), "document"):
                return [_doc(r) for r in s.scalars(q)]

    def document_text(self, doc_id: str) -> str:
        with self.store.session() as s, naming_unreadable(s, DocumentRow, [doc_id], "document"):
            row = s.get(DocumentRow, doc_id)
            if row is None:
                raise NotFoundError(f"no document '{doc_id}' in the vault")
            return row.text

    def chunks(self, doc_id: str) -> list[Chunk]:
        with self.store.session() as s:
            ids = select(ChunkRow.id).where(ChunkRow.document_id == doc_id)
            with naming_unreadable(s, ChunkRow, ids, "chunk"):
                rows = s.scalars(select(ChunkRow).where(ChunkRow.document_id == doc_id).order_by(ChunkRow.idx))
                return [_chunk(r) for r in rows]

    def annotations(self, doc_id: str) -> list[ClauseAnnotation]:
        with self.store.session() as s:
            ids = select(AnnotationRow.id).where(AnnotationRow.document_id == doc_id)
            with naming_unreadable(s, AnnotationRow, ids, f"document {doc_id}: annotation"):
                rows = s.scalars(select(AnnotationRow).where(AnnotationRow.document_id == doc_id)
                                 .order_by(AnnotationRow.start, AnnotationRow.id))
                return [ClauseAnnotation(clause_type=r.clause_type, start=r.start, end=r.end, text=r.text,
                                         kind=r.kind or "clause", label=r.label, extra=r.extra or {})
                        for r in rows]

    def defined_terms(self, doc_id: str) -> list[DefinedTerm]:
        with self.store.session() as s:
            ids = select(DefinedTermRow.id).where(DefinedTermRow.document_id == doc_id)
            with naming_unreadable(s, DefinedTermRow, ids, f"document {doc_id}: defined term"):
                rows = s.scalars(select(DefinedTermRow).where(DefinedTermRow.document_id == doc_id)
                                 .order_by(DefinedTermRow.start))
                return [DefinedTerm(term=r.term, start=r.start, end=r.end, definition_start=r.definition_start,
                                    definition_end=r.definition_end) for r in rows]

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        with self.store.session() as s, naming_unreadable(s, ChunkRow, chunk_ids, "chunk"):
            rows = s.scalars(select(ChunkRow).where(ChunkRow.id.in_(chunk_ids)))
            return {r.id: _chunk(r) for r in rows}


def _worker_init() -> None:
    # Each worker is one core's worth of work: Tesseract's own threads would oversubscribe the CPU.
    os.environ["OMP_THREAD_LIMIT"] = "1"


def _take(it: Iterator[Path], n: int) -> Iterator[Path]:
    for _ in range(n):
        try:
            yield next(it)
        except StopIteration:
            return


def _family_of(session, doc_ids: list[str]) -> str | None:
    """The family of the earliest-ingested near-duplicate document, if any."""
    if not doc_ids:
        return None
    row = session.scalars(select(DocumentRow).where(DocumentRow.id.in_(doc_ids))
                          .order_by(DocumentRow.created_at, DocumentRow.id)).first()
    return row.family_id if row is not None else None


def _doc(r: DocumentRow) -> Document:
    return Document(id=r.id, title=r.title, format=r.format, source_path=r.source_path,
                    sha256=r.sha256, n_chars=r.n_chars, metadata=r.meta or {}, part=r.part or "",
                    file_sha256=r.file_sha256, parent_id=r.parent_id,
                    family_id=r.family_id or "fam-" + r.id[4:], version=r.version or 1,
                    supersedes=r.supersedes, is_latest=r.is_latest is not False, created_at=r.created_at)


def _chunk(r: ChunkRow) -> Chunk:
    return Chunk(id=r.id, document_id=r.document_id, index=r.idx, start=r.start, end=r.end,
                 section=r.section, text=r.text, heading_path=r.heading_path or [], kind=r.kind or "body")

