"""Full-text index of chunks (BM25): SQLite FTS5 here; one place for its DDL, writes and searches."""

from __future__ import annotations

from sqlalchemy import Engine, text

_SQLITE_FTS = """CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
           chunk_id UNINDEXED, section, text, tokenize = 'porter unicode61')"""


def ensure_fts(engine: Engine) -> None:
    """Create the full-text index of this store's engine if it is missing."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(text(_SQLITE_FTS))
