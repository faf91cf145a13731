"""Dense vectors per chunk, stored in the `chunk_vectors` table and searched in memory.

sqlite-vec cannot load here (Python's sqlite3 lacks `enable_load_extension`), so vectors are float32
blobs in an ordinary table and a search is one numpy dot product over a matrix cached per store, reloaded
when the number of stored vectors changes. That is fast enough for a firm's vault (100k chunks x 384 dims
is 150 MB and a few milliseconds per query); pgvector or faiss is the scale-out beyond one machine.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, text

from lextune.core.store import Store
from lextune.core.tables import ChunkRow, ChunkVectorRow, DocumentRow
from lextune.rag.embeddings import Embedder, get_embedder
from lextune.vault.forget import on_forget

Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)
EMBED_BATCH = 64
_MISSING = """SELECT c.id, c.section, c.text FROM chunks c JOIN documents d ON d.id = c.document_id
              LEFT JOIN chunk_vectors v ON v.chunk_id = c.id AND v.model = :model
              WHERE v.chunk_id IS NULL AND d.is_latest IS NOT FALSE ORDER BY c.id"""


def embedding_text(section: str, body: str) -> str:
    """What is embedded for a chunk: its heading first (it often names the topic the body never does)."""
    return f"{section}\n{body}" if section and not body.startswith(section) else body


def missing_chunks(store: Store, model: str) -> int:
    """How many chunks of latest documents have no vector from this embedder yet."""
    with store.session() as s:
        return s.execute(text(f"SELECT count(*) FROM ({_MISSING}) AS missing"), {"model": model}).scalar_one()


_EMBED_LOCK = threading.Lock()  # two requests finding the same missing vectors embed them once


def embed_chunks(store: Store, embedder: Embedder | None = None, progress: Progress | None = None,
                 batch_size: int = EMBED_BATCH) -> int:
    """Compute and store vectors for the latest documents' chunks that lack them; returns how many."""
    embedder = embedder or get_embedder()
    with _EMBED_LOCK:
        with store.session() as s:
            # Typed columns: section and text are sealed, and raw SQL would return their ciphertext.
            c = ChunkRow.__table__.c
            todo = s.execute(text(_MISSING).columns(c.id, c.section, c.text), {"model": embedder.name}).all()
        done = 0
        if progress:
            progress(0, len(todo))
        for b in range(0, len(todo), batch_size):
            batch = todo[b: b + batch_size]
            vecs = embedder.encode([embedding_text(r[1] or "", r[2]) for r in batch])
            with store.session() as s:  # one transaction per batch: an interruption keeps what is done
                for r, v in zip(batch, vecs):
                    s.merge(ChunkVectorRow(chunk_id=r[0], model=embedder.name, dim=int(v.shape[0]),
                                           vector=v.astype(np.float32).tobytes()))
            done += len(batch)
            if progress:
                progress(done, len(todo))
        return done


@dataclass
class _Matrix:
    count: int
    chunk_ids: list[str]
    document_ids: np.ndarray  # object array, one per row
    vectors: np.ndarray  # (n, dim) float32, unit rows


_CACHE: weakref.WeakKeyDictionary[Store, dict[str, _Matrix]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _matrix(store: Store, model: str) -> _Matrix:
    with store.session() as s:
        count = s.execute(select(func.count()).select_from(ChunkVectorRow)
                          .where(ChunkVectorRow.model == model)).scalar_one()
    with _CACHE_LOCK:
        cached = _CACHE.setdefault(store, {}).get(model)
        if cached is not None and cached.count == count:
            return cached
    with store.session() as s:
        rows = s.execute(select(ChunkVectorRow.chunk_id, ChunkRow.document_id, ChunkVectorRow.vector)
                         .join(ChunkRow, ChunkRow.id == ChunkVectorRow.chunk_id)
                         .where(ChunkVectorRow.model == model)).all()
    dim = len(rows[0][2]) // 4 if rows else 0
    vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    m = _Matrix(count=count, chunk_ids=[r[0] for r in rows],
                document_ids=np.array([r[1] for r in rows], dtype=object), vectors=vectors)
    with _CACHE_LOCK:
        _CACHE[store][model] = m
    return m


def latest_document_ids(store: Store) -> set[str]:
    with store.session() as s:
        return set(s.scalars(select(DocumentRow.id).where(DocumentRow.is_latest.is_not(False))))


def dense_search(store: Store, query_vector: np.ndarray, k: int, model: str,
                 document_ids: set[str] | None = None) -> list[tuple[str, float]]:
    """(chunk id, cosine) of the k nearest chunks of latest documents (within `document_ids` if given)."""
    m = _matrix(store, model)
    if not m.chunk_ids:
        return []
    allowed = latest_document_ids(store)
    if document_ids is not None:
        allowed &= set(document_ids)
    keep = np.isin(m.document_ids, list(allowed))
    scores = m.vectors @ query_vector.astype(np.float32)
    scores = np.where(keep, scores, -np.inf)
    n = min(k, int(keep.sum()))
    if n == 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top])]
    return [(m.chunk_ids[i], float(scores[i])) for i in top]


def chunk_vectors(store: Store, chunk_ids: list[str], model: str) -> dict[str, np.ndarray]:
    """The stored vectors of these chunks (from the cached matrix)."""
    m = _matrix(store, model)
    where = {cid: i for i, cid in enumerate(m.chunk_ids)}
    return {cid: m.vectors[where[cid]] for cid in chunk_ids if cid in where}


@on_forget
def invalidate(store: Store, _document_ids: list[str] | None = None) -> None:
    """Drop this store's cached vector matrices (after an erasure: a forgotten chunk is never served)."""
    with _CACHE_LOCK:
        _CACHE.pop(store, None)
