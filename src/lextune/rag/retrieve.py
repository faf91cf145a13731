"""BM25 retrieval over vault chunks with SQLite FTS5."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import text

from lextune.core.errors import LextuneError
from lextune.core.records import Chunk
from lextune.core.store import Store
from lextune.vault.search import fts_query

__all__ = ["Hit", "fts_query", "search"]


class Hit(BaseModel):
    chunk: Chunk
    title: str
    score: float  # bm25: lower is better in SQLite; we negate so higher is better


def search(store: Store, question: str, k: int = 4) -> list[Hit]:
    """Top-k chunks for the question, best first."""
    if not store.is_sqlite:
        raise LextuneError("BM25 retrieval needs the SQLite store (FTS5)")
    query = fts_query(question)
    if not query:
        return []
    sql = text(
        """SELECT c.id, c.document_id, c.idx, c.start, c."end", c.section, c.text, d.title,
                  bm25(chunks_fts) AS rank
           FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.chunk_id
           JOIN documents d ON d.id = c.document_id
           WHERE chunks_fts MATCH :q AND d.is_latest IS NOT 0 ORDER BY rank LIMIT :k"""
    )
    with store.session() as s:
        rows = s.execute(sql, {"q": query, "k": k}).all()
    return [
        Hit(chunk=Chunk(id=r[0], document_id=r[1], index=r[2], start=r[3], end=r[4], section=r[5],
                        text=r[6]), title=r[7], score=-float(r[8]))
        for r in rows
    ]
