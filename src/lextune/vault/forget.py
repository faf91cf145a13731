"""Forget a document (a client's right to erasure, a matter closed): `lextune vault forget DOC`.

In one transaction: the document's text, chunks, FTS rows, vectors, annotations, defined terms, PII
mapping, split pin and evaluation predictions leave the store; a tombstone keeps its id and hashes
only (a title or file name can itself be personal data) so the same text is refused if ingested
again; datasets with rows from it and the model versions trained on them are marked affected (not
deleted), and `purge_datasets` also rewrites the dataset files without its rows; one `vault.forget`
audit row holds ids and counts, never text. Then the SQLite file is scrubbed: deletes run with
`secure_delete` (freed content is zeroed), the FTS index is merged (`optimize`: deleted terms leave its
segments), the file is VACUUMed and the WAL truncated, so the words are not left in free pages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from lextune.core import audit, fts
from lextune.core.config import EVAL_CACHE, TEACHER_CACHE
from lextune.core.errors import ConfigError, LextuneError, NotFoundError
from lextune.core.records import utcnow
from lextune.core.store import Store
from lextune.core.tables import (
    AnnotationRow,
    ChunkRow,
    ChunkVectorRow,
    DatasetRowDB,
    DefinedTermRow,
    DocumentRow,
    ErasureRow,
    EvalPredictionRow,
    ModelVersionRow,
    PiiRedactionRow,
    PiiRunRow,
    SplitAssignmentRow,
)
from lextune.security.keyring import CiphertextError
from lextune.security.sealed_types import keyring_of
from lextune.vault.forget_datasets import AffectedDataset, commit_purge, prepare_purge, scan_dataset

ACTION = "vault.forget"
Hook = Callable[[Store, list[str]], None]
_HOOKS: list[Hook] = []


def on_forget(hook: Hook) -> Hook:
    """Call `hook(store, document_ids)` after every erasure in this process (e.g. to drop a cache)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


class AffectedVersion(BaseModel):
    """A model version trained on a dataset with rows from a forgotten document: retrain it."""

    id: str
    name: str
    dataset_id: str


class ErasureRecord(BaseModel):
    """A tombstone: what is known of a forgotten document (no title, no path, no text)."""

    document_id: str
    sha256: str
    file_sha256: str | None = None
    reason: str
    forgotten_at: datetime


class ErasureReport(BaseModel):
    """What an erasure removed (or, with dry_run, would remove) and what it affects: ids and counts."""

    document_id: str  # as asked for
    document_ids: list[str] = Field(default_factory=list)  # every version forgotten
    reason: str = ""
    dry_run: bool = False
    forgotten_at: datetime | None = None
    removed: dict[str, int] = Field(default_factory=dict)  # what -> rows
    datasets: list[AffectedDataset] = Field(default_factory=list)
    versions: list[AffectedVersion] = Field(default_factory=list)  # must be retrained
    other_versions: list[str] = Field(default_factory=list)  # versions of the document left in the vault
    now_latest: list[str] = Field(default_factory=list)  # earlier versions that became the latest again
    storage: dict[str, Any] = Field(default_factory=dict)  # how the database file was scrubbed
    caches_cleared: list[str] = Field(default_factory=list)  # caches that could quote the document
    warnings: list[str] = Field(default_factory=list)
    audit_id: int | None = None


def plan_forget(store: Store, doc_id: str, all_versions: bool = False, purge_datasets: bool = False) -> ErasureReport:
    """What `forget_document` would remove and mark, changing nothing (the confirmation's preview)."""
    return _forget(store, doc_id, "", None, all_versions, purge=purge_datasets, vacuum=False, dry_run=True)


def forget_document(
    store: Store, doc_id: str, reason: str, actor: str | None = None, *, all_versions: bool = False,
    purge_datasets: bool = False, vacuum: bool = True,
) -> ErasureReport:
    """Erase one document (with `all_versions`, every version of it) from the store, in one transaction.

    A document already forgotten raises NotFoundError, unless `purge_datasets` asks to purge dataset
    files that still hold its rows. `actor` names who asked (recorded beside the OS user).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ConfigError("forgetting a document needs a reason (e.g. 'erasure request 2026-03-01', 'matter closed')")
    return _forget(store, doc_id, reason, actor, all_versions, purge=purge_datasets, vacuum=vacuum,
                   dry_run=False)


def _forget(store: Store, doc_id: str, reason: str, actor: str | None, all_versions: bool, *,
            purge: bool, vacuum: bool, dry_run: bool) -> ErasureReport:
    report = ErasureReport(document_id=doc_id, reason=reason, dry_run=dry_run)
    # Plan first, in a read transaction: dataset files are scanned (and purged copies staged) without
    # holding the database's write lock, which would block ingest and serving meanwhile.
    with store.session() as s:
        targets = _targets(s, doc_id, all_versions, purge, report)
        ids = [d.id for d in targets] or [doc_id]
        report.document_ids = ids
        report.removed = _removed(s, store, [d.id for d in targets], count_only=True)
        _lineage(s, ids, report)
    if dry_run:
        return report
    now = report.forgotten_at = utcnow()
    mark = {"documents": ids, "at": now.isoformat(), "reason": reason}
    staged: list[tuple[Path, Path, dict[str, Any]]] = []  # (purged copy, dataset folder, facts) to swap in
    try:
        for ds in report.datasets if purge else []:
            folder = Path(ds.path)
            tmp, facts = prepare_purge(folder, set(ids), {**mark, "rows": ds.n_rows}, keyring=store.keyring)
            staged.append((tmp, folder, facts))
            ds.purged, ds.previous_sha256, ds.sha256 = True, facts["previous_sha256"], facts["sha256"]
            ds.exports_removed = facts["exports_removed"]
        with store.session() as s:
            # A write first: the transaction holds the write lock before it reads (as audit.record does), so
            # a commit by another process in between cannot invalidate its snapshot (SQLITE_BUSY_SNAPSHOT).
            s.execute(update(DocumentRow).where(DocumentRow.id.in_(ids)).values(id=DocumentRow.id)
                      .execution_options(synchronize_session=False))
            if store.is_sqlite:
                s.execute(text("PRAGMA secure_delete=ON"))  # freed cells and pages are zeroed
            targets = _targets(s, doc_id, all_versions, purge, ErasureReport(document_id=doc_id))
            if ([d.id for d in targets] or [doc_id]) != ids:
                raise LextuneError(f"the versions of '{doc_id}' changed while it was being forgotten: run again")
            removed = _removed(s, store, ids if targets else [], count_only=False)
            report.removed = removed
            for ds in report.datasets if purge else []:
                facts = next(f for _, folder, f in staged if folder == Path(ds.path))
                row = s.get(DatasetRowDB, ds.id)
                row.sha256, row.counts, row.manifest = facts["sha256"], facts["counts"], facts["manifest"]
            _relink_versions(s, targets, report)
            if targets:
                s.execute(delete(DocumentRow).where(DocumentRow.id.in_(ids)))
            if removed.get("fts_rows"):
                # Deleted FTS5 rows leave their (blinded) terms in the index segments until they are merged.
                fts.optimize(s)
            _refresh_versions(s, report)
            _mark(s, report, mark)
            tombstones = [ErasureRow(document_id=d.id, sha256=d.sha256, file_sha256=d.file_sha256, reason=reason,
                                     actor=(actor or audit.current_actor())[:64], forgotten_at=now)
                          for d in targets]
            s.add_all(tombstones)
            event = audit.record(s, ACTION, doc_id, {
                "documents": ids, "reason": reason, "actor": actor, "all_versions": all_versions,
                "removed": removed, "datasets": [d.id for d in report.datasets],
                "dataset_rows": {d.id: d.n_rows for d in report.datasets},
                "datasets_purged": [d.id for d in report.datasets if d.purged],
                "versions": [v.id for v in report.versions], "now_latest": report.now_latest,
            })
            report.audit_id = event.id
            for t in tombstones:
                t.audit_id = event.id
            if store.is_sqlite:
                s.execute(text("PRAGMA secure_delete=OFF"))
            while staged:  # last: a failed swap rolls the transaction back
                tmp, folder, _ = staged[0]
                commit_purge(tmp, folder)
                staged.pop(0)
    finally:
        for tmp, _, _ in staged:
            _rmtree(tmp)
    for hook in _HOOKS:
        try:
            hook(store, report.document_ids)
        except Exception as e:  # noqa: BLE001 - the erasure is committed; a stale cache is reported, not fatal
            report.warnings.append(f"after-forget hook {getattr(hook, '__name__', hook)} failed: {e}")
    report.caches_cleared = _clear_caches(store)
    report.storage = scrub(store, vacuum=vacuum)
    if report.storage.get("wal_truncated") is False:
        report.warnings.append("the WAL file could not be truncated (another process is reading the vault): "
                               "deleted pages may linger in it until that process closes; run forget again "
                               "or `sqlite3 lextune.db 'PRAGMA wal_checkpoint(TRUNCATE)'` then")
    return report


def _clear_caches(store: Store) -> list[str]:
    """Delete the caches under the home whose entries can quote a document: the evaluation result cache
    (model outputs keyed by prompts) and the teacher's default cache. Their entries are sealed, but
    erasure means gone; they are only caches, rebuilt on demand."""
    cleared = []
    for name in (EVAL_CACHE, TEACHER_CACHE):
        paths = [store.settings.home / f"{name}{suffix}" for suffix in ("", "-wal", "-shm", "-journal")]
        if any(p.exists() for p in paths):
            for p in paths:
                p.unlink(missing_ok=True)
            cleared.append(name)
    return cleared


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _targets(s: Session, doc_id: str, all_versions: bool, purge: bool, report: ErasureReport) -> list[DocumentRow]:
    row = s.get(DocumentRow, doc_id)
    if row is None:
        gone = s.get(ErasureRow, doc_id)
        if gone is None:
            raise NotFoundError(f"no document '{doc_id}' in the vault")
        if not purge:
            raise NotFoundError(f"document '{doc_id}' was already forgotten on {gone.forgotten_at:%Y-%m-%d}; pass "
                                "--purge-datasets to purge dataset files that still hold its rows")
        return []
    chain = [row]
    if row.source_key is not None:  # the versions of one logical document share its source key
        chain = list(s.scalars(select(DocumentRow).where(DocumentRow.source_key == row.source_key)
                               .order_by(DocumentRow.version, DocumentRow.created_at)))
    targets = chain if all_versions else [row]
    report.other_versions = [d.id for d in chain if d not in targets]
    if report.other_versions:
        report.warnings.append(f"{len(report.other_versions)} other version(s) of this document stay in the vault "
                               f"({', '.join(report.other_versions)}): pass --all-versions to forget them too")
    ids = [d.id for d in targets]
    children = s.scalars(select(DocumentRow.id).where(DocumentRow.parent_id.in_(ids),
                                                      DocumentRow.id.not_in(ids))).all()
    if children:
        report.warnings.append(f"{len(children)} attachment(s) of this document are documents of their own and "
                               f"stay in the vault ({', '.join(children)}): forget them separately if needed")
    return targets


def _removed(s: Session, store: Store, ids: list[str], count_only: bool) -> dict[str, int]:
    """Delete (or count) every row holding the documents' text, their derived data and their PII mapping."""
    if not ids:
        return {}
    chunk_ids = select(ChunkRow.id).where(ChunkRow.document_id.in_(ids))
    out: dict[str, int] = {}
    out["fts_rows"] = fts.count_documents(s, ids) if count_only else fts.delete_documents(s, ids)
    tables: list[tuple[str, Any, Any]] = [  # FTS and vectors first: they are found through the chunks
        ("vectors", ChunkVectorRow, ChunkVectorRow.chunk_id.in_(chunk_ids)),
        ("chunks", ChunkRow, ChunkRow.document_id.in_(ids)),
        ("annotations", AnnotationRow, AnnotationRow.document_id.in_(ids)),
        ("defined_terms", DefinedTermRow, DefinedTermRow.document_id.in_(ids)),
        ("pii_mappings", PiiRedactionRow, PiiRedactionRow.document_id.in_(ids)),
        ("pii_runs", PiiRunRow, PiiRunRow.document_id.in_(ids)),
        ("split_assignments", SplitAssignmentRow, SplitAssignmentRow.document_id.in_(ids)),
        ("eval_predictions", EvalPredictionRow, EvalPredictionRow.doc_id.in_(ids)),
    ]
    for name, table, where in tables:
        out[name] = s.execute(select(func.count()).select_from(table).where(where)).scalar_one()
        if not count_only and out[name]:
            s.execute(delete(table).where(where))
    out["documents"] = len(ids)
    return out


def _lineage(s: Session, ids: list[str], report: ErasureReport) -> None:
    """Datasets whose files hold rows from the documents, and the versions trained on them."""
    wanted = set(ids)
    unchecked: list[str] = []
    for ds in s.scalars(select(DatasetRowDB).order_by(DatasetRowDB.created_at, DatasetRowDB.id)):
        folder = Path(ds.path)
        if not folder.is_dir():
            unchecked.append(ds.id)
            report.warnings.append(f"dataset {ds.id}: its folder is missing, not checked for the document's rows")
            continue
        try:
            rows = scan_dataset(folder, wanted, keyring_of(s.get_bind().dialect))  # the store's keyring
        except (OSError, ValueError, CiphertextError) as e:
            unchecked.append(ds.id)
            report.warnings.append(f"dataset {ds.id}: could not be read ({type(e).__name__}), not checked for "
                                   "the document's rows")
            continue
        if rows:
            report.datasets.append(AffectedDataset(id=ds.id, name=ds.name, path=ds.path, rows=rows))
    _refresh_versions(s, report)
    if unchecked:
        names = s.scalars(select(ModelVersionRow.name).where(ModelVersionRow.dataset_id.in_(unchecked))).all()
        if names:
            report.warnings.append(f"model version(s) {', '.join(names)} were trained on unchecked datasets")


def _refresh_versions(s: Session, report: ErasureReport) -> None:
    """The versions trained on the affected datasets, read again under the write lock (one may be new)."""
    q = (select(ModelVersionRow).where(ModelVersionRow.dataset_id.in_([d.id for d in report.datasets]))
         .order_by(ModelVersionRow.created_at))
    report.versions = [AffectedVersion(id=v.id, name=v.name, dataset_id=v.dataset_id) for v in s.scalars(q)]


def _relink_versions(s: Session, targets: list[DocumentRow], report: ErasureReport) -> None:
    """Keep the version chain whole without the forgotten versions; the newest one left becomes latest."""
    gone = {d.id: d for d in targets}

    def kept_before(doc: DocumentRow) -> str | None:
        prev = doc.supersedes
        while prev in gone:
            prev = gone[prev].supersedes
        return prev

    for d in targets:
        for later in s.scalars(select(DocumentRow).where(DocumentRow.supersedes == d.id)):
            if later.id not in gone:
                later.supersedes = kept_before(d)
    for key in {d.source_key for d in targets if d.is_latest is not False and d.source_key is not None}:
        left = s.scalars(select(DocumentRow).where(DocumentRow.source_key == key, DocumentRow.id.not_in(gone))
                         .order_by(DocumentRow.version.desc(), DocumentRow.created_at.desc())).first()
        if left is not None and left.is_latest is False:
            left.is_latest = True
            report.now_latest.append(left.id)


def _mark(s: Session, report: ErasureReport, mark: dict[str, Any]) -> None:
    """Append the erasure to each affected dataset's and version's `affected_by_erasure` (a new list: JSON)."""
    purged = {d.id: d for d in report.datasets}
    for ds in report.datasets:
        row = s.get(DatasetRowDB, ds.id)
        entry = {**mark, "rows": ds.n_rows, "purged": ds.purged}
        if ds.purged:
            entry.update(previous_sha256=ds.previous_sha256, sha256=ds.sha256)
        row.affected_by_erasure = [*(row.affected_by_erasure or []), entry]
    for v in report.versions:
        row = s.get(ModelVersionRow, v.id)
        row.affected_by_erasure = [*(row.affected_by_erasure or []), {
            **mark, "dataset_id": v.dataset_id, "dataset_purged": purged[v.dataset_id].purged, "must_retrain": True}]


def scrub(store: Store, vacuum: bool = True) -> dict[str, Any]:
    """Leave no deleted content in the SQLite file: VACUUM (optional) and truncate the WAL.

    `secure_delete` already zeroed what the erasure freed; VACUUM also rebuilds every page (and gives
    the space back) but rewrites the whole file: `vacuum=False` skips it for a very large vault.
    Other databases (PostgreSQL) manage their own storage: run VACUUM FULL there.
    """
    if not store.is_sqlite:
        return {"database": store.engine.dialect.name, "scrubbed": False,
                "note": "not SQLite: deleted rows stay in its storage until VACUUM FULL"}
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if vacuum:
            conn.exec_driver_sql("VACUUM")
        busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
    return {"database": "sqlite", "secure_delete": True, "fts_optimized": True, "vacuumed": vacuum,
            "wal_truncated": busy == 0}


# ---------------------------------------------------------------- for other stages


def forgotten(session: Session, text_sha256: str) -> ErasureRecord | None:
    """The tombstone of a forgotten document with this text hash (documents.sha256), or None.

    Ingest calls it before adding a document. By text, not file: the documents of a multi-document
    file (CUAD JSON, a mailbox) share one file hash, and forgetting one of them must not refuse the rest.
    """
    row = session.scalars(select(ErasureRow).where(ErasureRow.sha256 == text_sha256)
                          .order_by(ErasureRow.forgotten_at)).first()
    if row is None:
        return None
    return ErasureRecord(document_id=row.document_id, sha256=row.sha256, file_sha256=row.file_sha256,
                         reason=row.reason, forgotten_at=row.forgotten_at)


def forgotten_notice(title: str, record: ErasureRecord) -> str:
    """The line ingest reports for a file it did not add again because its document was forgotten."""
    return (f"{title}: was forgotten on {record.forgotten_at:%Y-%m-%d} ({record.document_id}); "
            "not added again")


def refuse_forgotten(session: Session, text_sha256: str, title: str, report: Any) -> bool:
    """True (and the notice added to the IngestReport's warnings) when this text was forgotten.

    The ingest hook: `Vault._store_document` calls it first in its transaction and returns when True.
    """
    record = forgotten(session, text_sha256)
    if record is None:
        return False
    report.warnings.append(forgotten_notice(title, record))
    return True


def affected_by_erasure(store: Store, ref: str) -> list[dict[str, Any]]:
    """The erasures that affect a dataset or model version (id or name): documents, when, why, purged."""
    with store.session() as s:
        ds = s.scalars(select(DatasetRowDB).where(or_(DatasetRowDB.id == ref, DatasetRowDB.name == ref))).first()
        if ds is not None:
            return list(ds.affected_by_erasure or [])
        v = s.scalars(select(ModelVersionRow).where(or_(ModelVersionRow.id == ref,
                                                        ModelVersionRow.name == ref))).first()
        if v is not None:
            return list(v.affected_by_erasure or [])
    raise NotFoundError(f"no dataset or model version '{ref}'")


def erasures(store: Store) -> list[ErasureRecord]:
    """Every tombstone, oldest first."""
    with store.session() as s:
        return [ErasureRecord(document_id=r.document_id, sha256=r.sha256, file_sha256=r.file_sha256,
                              reason=r.reason, forgotten_at=r.forgotten_at)
                for r in s.scalars(select(ErasureRow).order_by(ErasureRow.forgotten_at))]
