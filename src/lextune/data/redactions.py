"""Redactions per document, computed once per anonymization policy and kept in the store.

The store's `pii_redactions` table is the PII mapping (original -> replacement) that lets an
authorized user reverse a pseudonym; datasets only ever receive the replacement text. Documents
not anonymized yet under a policy are analysed in worker processes (spaCy's NER is most of the
cost, about 90 ms per page on one core), then stored one transaction per document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from sqlalchemy import delete, select

from lextune.core.records import DefinedTerm, Redaction
from lextune.core.store import Store
from lextune.core.tables import PiiRedactionRow, PiiRunRow

# Below this many documents to analyse, starting worker processes (spaCy loads in each) costs more
# than it saves.
MIN_DOCS_FOR_WORKERS = 6


def load_cached(store: Store, document_id: str, config_hash: str) -> list[Redaction] | None:
    """The stored redactions of a document under this policy, or None if it was never analysed."""
    with store.session() as s:
        if s.get(PiiRunRow, (document_id, config_hash)) is None:
            return None
        rows = s.scalars(select(PiiRedactionRow).where(PiiRedactionRow.document_id == document_id,
                                                       PiiRedactionRow.config_hash == config_hash)
                         .order_by(PiiRedactionRow.start))
        return [Redaction(start=r.start, end=r.end, entity_type=r.entity_type, original=r.original,
                          replacement=r.replacement) for r in rows]


def save(store: Store, document_id: str, config_hash: str, found: list[Redaction]) -> None:
    with store.session() as s:
        s.execute(delete(PiiRedactionRow).where(PiiRedactionRow.document_id == document_id,
                                                PiiRedactionRow.config_hash == config_hash))
        s.add_all(PiiRedactionRow(document_id=document_id, config_hash=config_hash, **r.model_dump())
                  for r in found)
        s.merge(PiiRunRow(document_id=document_id, config_hash=config_hash, n_redactions=len(found)))


_worker_anonymizer = None


def _analyse(actions: dict[str, str], text: str, terms: list[DefinedTerm]) -> list[Redaction]:
    """Worker-side: one Anonymizer per process, reused for every document it is given."""
    global _worker_anonymizer
    from lextune.vault.pii import Anonymizer, PiiPolicy

    if _worker_anonymizer is None:
        _worker_anonymizer = Anonymizer(PiiPolicy.from_actions(actions) if actions else PiiPolicy())
    return _worker_anonymizer.redactions(text, terms)


def redactions_for(
    store: Store, doc_ids: list[str], actions: dict[str, str], config_hash: str,
    read: Callable[[str], tuple[str, list[DefinedTerm]]], workers: int = 1,
    on_done: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, list[Redaction]]]:
    """(doc id, redactions) for every document: cached ones from the store, the others analysed
    (in `workers` processes when there are enough of them) and stored as they arrive."""
    todo: list[str] = []
    done = 0
    for doc_id in doc_ids:
        cached = load_cached(store, doc_id, config_hash)
        if cached is None:
            todo.append(doc_id)
            continue
        done += 1
        if on_done:
            on_done(done)
        yield doc_id, cached
    if not todo:
        return
    if workers > 1 and len(todo) >= MIN_DOCS_FOR_WORKERS:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            # At most 2 x workers documents in flight: texts are read only as they are needed.
            pending = []
            for doc_id in todo:
                pending.append((doc_id, pool.submit(_analyse, actions, *read(doc_id))))
                if len(pending) >= 2 * workers:
                    doc_id, fut = pending.pop(0)
                    done += 1
                    yield _saved(store, doc_id, config_hash, fut.result(), done, on_done)
            for doc_id, fut in pending:
                done += 1
                yield _saved(store, doc_id, config_hash, fut.result(), done, on_done)
        return
    for doc_id in todo:
        done += 1
        yield _saved(store, doc_id, config_hash, _analyse(actions, *read(doc_id)), done, on_done)


def _saved(store: Store, doc_id: str, config_hash: str, found: list[Redaction], done: int,
           on_done: Callable[[int], None] | None) -> tuple[str, list[Redaction]]:
    save(store, doc_id, config_hash, found)
    if on_done:
        on_done(done)
    return doc_id, found


def originals(store: Store, document_ids: list[str], config_hash: str) -> set[str]:
    """The original strings redacted in these documents (for the audit's 'PII left' check)."""
    out: set[str] = set()
    with store.session() as s:
        for i in range(0, len(document_ids), 500):  # stay under SQLite's bound-parameter limit
            q = select(PiiRedactionRow.original, PiiRedactionRow.replacement).where(
                PiiRedactionRow.config_hash == config_hash,
                PiiRedactionRow.document_id.in_(document_ids[i:i + 500]))
            out.update(original for original, replacement in s.execute(q) if original != replacement)
    return out


def count_by_type(redactions: list[Redaction]) -> Counter[str]:
    return Counter(r.entity_type for r in redactions if r.replacement != r.original)


def mapping(store: Store, document_id: str) -> list[Redaction]:
    """Every redaction stored for a document (all policies), to reverse pseudonyms; audited by the caller."""
    with store.session() as s:
        rows = s.scalars(select(PiiRedactionRow).where(PiiRedactionRow.document_id == document_id)
                         .order_by(PiiRedactionRow.start))
        return [Redaction(start=r.start, end=r.end, entity_type=r.entity_type, original=r.original,
                          replacement=r.replacement) for r in rows]
