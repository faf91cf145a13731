"""Full-text index of chunks (BM25) over blinded tokens: one place for its DDL, writes and searches.

Chunk text is sealed in the database, so the index cannot hold it either. lextune tokenizes as FTS5's
'porter unicode61' did (lextune.core.fts_tokens) and stores each term as Keyring.blind(term), a keyed
hash: equal terms stay equal, so BM25 over the blinded index ranks exactly as it did over the text; the
words themselves are not in the file. Queries are blinded the same way.

SQLite: an FTS5 table over the blinded section and text (its own tokenizer only splits on spaces).
PostgreSQL: its own full-text search finds the matches: each chunk's blinded terms as a tsvector
('simple' configuration: the blinded terms are already what is searched) under a GIN index, each query
word a tsquery (a word of several terms a phrase, `a <-> b`, as FTS5 reads it). Ranking is FTS5's
bm25() (k1 1.2, b 0.75, IDF floored at 1e-6) computed in SQL from a postings table (term, chunk, tf) and
each chunk's length, so both databases rank alike: ts_rank_cd has no IDF, and a tsvector gives no term
frequency without unnesting every candidate.

The blinded index depends on the store's index key. `fts_state` records which key built it; an index
built by another key, or by a lextune before blinding (a plaintext FTS5 table, dropped by ensure_fts the
moment the store opens), is rebuilt from the sealed chunks at the first search or ingest, or by
`reindex_fts(store)`.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, bindparam, select, text
from sqlalchemy.orm import Session

from lextune.core.fts_query import query_words
from lextune.core.fts_tokens import blinder, raw_tokens, terms
from lextune.core.tables import ChunkRow

if TYPE_CHECKING:
    from lextune.core.store import Store
    from lextune.security.keyring import Keyring

SCHEME = "blind-v1"
_EMPTY, _REBUILD = "empty", "rebuild"
_K1, _B = 1.2, 0.75  # FTS5's bm25() constants
_BATCH = 500

_SQLITE_FTS = """CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
           chunk_id UNINDEXED, section, text, tokenize = 'ascii')"""
_PG_DDL = [
    "CREATE TABLE IF NOT EXISTS chunks_fts (chunk_id TEXT PRIMARY KEY, n_tokens INTEGER NOT NULL, tsv tsvector)",
    "ALTER TABLE chunks_fts ADD COLUMN IF NOT EXISTS tsv tsvector",
    "CREATE INDEX IF NOT EXISTS ix_chunks_fts_tsv ON chunks_fts USING GIN (tsv)",
    """CREATE TABLE IF NOT EXISTS chunks_fts_terms (term TEXT NOT NULL, chunk_id TEXT NOT NULL,
           tf INTEGER NOT NULL, PRIMARY KEY (term, chunk_id))""",
    "CREATE INDEX IF NOT EXISTS ix_chunks_fts_terms_chunk ON chunks_fts_terms (chunk_id)",
]
_STATE_DDL = "CREATE TABLE IF NOT EXISTS fts_state (key VARCHAR(32) PRIMARY KEY, value TEXT NOT NULL)"
_OF_DOCS = "chunk_id IN (SELECT id FROM chunks WHERE document_id IN :docs)"

_CURRENT: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()  # engine -> checked key
_LOCK = threading.Lock()


# ---------------------------------------------------------------- DDL


def ensure_fts(engine: Engine) -> None:
    """Create the index of this store's engine if it is missing (idempotent); drop a plaintext one.

    Runs when the store opens, before it has its keyring, so it cannot rebuild: it marks the index for
    rebuilding. It also drops dense vectors from before sealing (the other derived search data), once.
    """
    with engine.begin() as conn:
        conn.execute(text(_STATE_DDL))
        _drop_plaintext_vectors(conn)
        if engine.dialect.name == "sqlite":
            existing = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'")).scalar()
            if existing is not None and "'ascii'" not in existing:
                # A plaintext index (porter unicode61) from before blinding: its words must leave the file.
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
                conn.exec_driver_sql("DROP TABLE chunks_fts")
                conn.exec_driver_sql("PRAGMA secure_delete=OFF")
                existing = None
            if existing is None:
                conn.execute(text(_SQLITE_FTS))
                _mark_new(conn)
        elif engine.dialect.name == "postgresql":
            existed = conn.execute(text("SELECT to_regclass('chunks_fts') IS NOT NULL")).scalar()
            for ddl in _PG_DDL:
                conn.execute(text(ddl))
            if not existed:
                _mark_new(conn)


def _drop_plaintext_vectors(conn: Connection) -> None:
    """Vectors stored before sealing are plaintext float32 (exactly 4 bytes a dimension; a sealed one is
    longer): dropped once, zeroed on SQLite, and embedded again when hybrid retrieval next needs them."""
    if conn.execute(text("SELECT 1 FROM fts_state WHERE key = 'vectors'")).first() is not None:
        return
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        conn.exec_driver_sql("PRAGMA secure_delete=ON")
    conn.execute(text("DELETE FROM chunk_vectors WHERE length(vector) = 4 * dim"))
    if sqlite:
        conn.exec_driver_sql("PRAGMA secure_delete=OFF")
    _set_state(conn, "sealed", key="vectors")


def _mark_new(conn: Connection) -> None:
    """A fresh index: nothing to rebuild when the vault has no chunks yet, else built at first use."""
    has_chunks = conn.execute(text("SELECT 1 FROM chunks LIMIT 1")).first() is not None
    _set_state(conn, _REBUILD if has_chunks else _EMPTY)


def _set_state(conn: Connection | Session, value: str, key: str = "index") -> None:
    conn.execute(text("DELETE FROM fts_state WHERE key = :k"), {"k": key})
    conn.execute(text("INSERT INTO fts_state (key, value) VALUES (:k, :v)"), {"k": key, "v": value})


def _fingerprint(keyring: Keyring) -> str:
    # Not a token (tokens have no ':'), so it says which index key built the index and nothing else.
    return f"{SCHEME} {keyring.blind('lextune:fts-index-key')}"


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def _ensure_current(session: Session, keyring: Keyring, skip: frozenset[str] = frozenset()) -> bool:
    """Rebuild the index when another key (or no key) built it; True when it did. Cached per engine."""
    engine, want = _engine(session), _fingerprint(keyring)
    with _LOCK:
        if _CURRENT.get(engine) == want:
            return False
    if engine.dialect.name == "postgresql":  # one rebuild at a time across processes
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('lextune-fts-rebuild'))"))
    state = session.execute(text("SELECT value FROM fts_state WHERE key = 'index'")).scalar()
    rebuilt = False
    if state != want:
        if state != _EMPTY:
            _rebuild(session, keyring, skip)
            rebuilt = True
        _set_state(session, want)
    with _LOCK:
        _CURRENT[engine] = want
    return rebuilt


def _rebuild(session: Session, keyring: Keyring, skip: frozenset[str]) -> int:
    _delete_all(session)
    ids = [i for i in session.scalars(select(ChunkRow.id).order_by(ChunkRow.id)) if i not in skip]
    for b in range(0, len(ids), _BATCH):
        rows = session.execute(select(ChunkRow.id, ChunkRow.section, ChunkRow.text)
                               .where(ChunkRow.id.in_(ids[b: b + _BATCH]))).all()
        _insert(session, keyring, [(r[0], r[1] or "", r[2]) for r in rows])
    return len(ids)


def reindex_fts(store: Store) -> int:
    """Rebuild the whole index from the sealed chunks (e.g. a store upgraded from a plaintext index).

    Returns the number of chunks indexed. The first search or ingest does it by itself when needed.
    """
    with store.session() as s:
        if store.engine.dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(hashtext('lextune-fts-rebuild'))"))
        n = _rebuild(s, store.keyring, frozenset())
        want = _fingerprint(store.keyring)
        _set_state(s, want)
    with _LOCK:
        _CURRENT[store.engine] = want
    return n


# ---------------------------------------------------------------- writes


def index_chunks(session: Session, keyring: Keyring, chunks: Iterable[tuple[str, str, str]]) -> int:
    """Add (chunk id, section, text) to the index, in the caller's transaction. Returns how many."""
    rows = list(chunks)
    _ensure_current(session, keyring, skip=frozenset(c[0] for c in rows))
    _insert(session, keyring, rows)
    return len(rows)


def _insert(session: Session, keyring: Keyring, rows: list[tuple[str, str, str]]) -> None:
    if not rows:
        return
    b = blinder(keyring)
    if _engine(session).dialect.name == "sqlite":
        session.execute(text("INSERT INTO chunks_fts(chunk_id, section, text) VALUES (:c, :s, :t)"),
                        [{"c": cid, "s": " ".join(b.terms(sec)), "t": " ".join(b.terms(body))}
                         for cid, sec, body in rows])
        return
    lengths, postings = [], []
    for cid, sec, body in rows:
        toks = b.terms(sec) + b.terms(body)
        lengths.append({"c": cid, "n": len(toks), "t": " ".join(toks)})
        postings += [{"t": t, "c": cid, "f": n} for t, n in Counter(toks).items()]
    session.execute(text("INSERT INTO chunks_fts (chunk_id, n_tokens, tsv) VALUES (:c, :n, to_tsvector('simple', :t))"),
                    lengths)
    if postings:
        session.execute(text("INSERT INTO chunks_fts_terms (term, chunk_id, tf) VALUES (:t, :c, :f)"), postings)


def _tables(session: Session) -> tuple[str, ...]:
    return ("chunks_fts",) if _engine(session).dialect.name == "sqlite" else ("chunks_fts_terms", "chunks_fts")


def _delete_all(session: Session) -> None:
    for table in _tables(session):
        session.execute(text(f"DELETE FROM {table}"))


def count_documents(session: Session, doc_ids: list[str]) -> int:
    """How many chunks of these documents the index holds."""
    if not doc_ids:
        return 0
    sql = text(f"SELECT count(*) FROM chunks_fts WHERE {_OF_DOCS}").bindparams(bindparam("docs", expanding=True))
    return int(session.execute(sql, {"docs": doc_ids}).scalar_one())


def delete_documents(session: Session, doc_ids: list[str]) -> int:
    """Remove these documents' chunks from the index (before the chunks themselves). Returns how many."""
    n = count_documents(session, doc_ids)
    if n:
        for table in _tables(session):
            sql = text(f"DELETE FROM {table} WHERE {_OF_DOCS}").bindparams(bindparam("docs", expanding=True))
            session.execute(sql, {"docs": doc_ids})
    return n


def optimize(session: Session) -> None:
    """SQLite: merge the index segments, so deleted terms leave them (PostgreSQL: VACUUM does that)."""
    if _engine(session).dialect.name == "sqlite":
        session.execute(text("INSERT INTO chunks_fts(chunks_fts) VALUES('optimize')"))


# ---------------------------------------------------------------- search


def fts_query_terms(question: str) -> list[list[str]]:
    """The question as the index sees it, unblinded: one phrase (its terms) per searched word.

    Words as lextune.core.fts_query.fts_query picks them; each becomes the phrase FTS5 would make of it
    (usually one term; "e_mail" is the phrase e, mail). Words stemming alike stay separate phrases,
    as they were separate quoted strings in the FTS5 query (BM25 counts them twice, and so do we).
    """
    return [p for p in (terms(w) for w in query_words(question)) if p]


def _blinded_phrases(keyring: Keyring, question: str) -> list[list[str]]:
    term = blinder(keyring).term
    phrases = ([term(t) for t in raw_tokens(w)] for w in query_words(question))
    return [p for p in ([t for t in ph if t] for ph in phrases) if p]


def search(session: Session, keyring: Keyring, query: str, k: int, doc_ids: Iterable[str] | None = None,
           latest_only: bool = True) -> list[tuple[str, float]]:
    """Top-k (chunk id, BM25 score), best first (higher is better), for the OR of the query's words.

    `doc_ids` limits the search to those documents; `latest_only` to the latest version of each.
    """
    phrases = _blinded_phrases(keyring, query)
    if not phrases or k < 1:
        return []
    _ensure_current(session, keyring)
    docs = list(doc_ids) if doc_ids is not None else None
    if _engine(session).dialect.name == "sqlite":
        return _search_sqlite(session, phrases, k, docs, latest_only)
    return _search_postgres(session, phrases, k, docs, latest_only)


def _filters(docs: list[str] | None, latest_only: bool, latest_sql: str) -> tuple[str, str, dict]:
    join = " JOIN documents d ON d.id = c.document_id" if latest_only else ""
    where = (f" AND {latest_sql}" if latest_only else "") + (" AND c.document_id IN :docs" if docs is not None else "")
    return join, where, ({"docs": docs or [""]} if docs is not None else {})


def _bind(sql: str, docs: list[str] | None):
    stmt = text(sql)
    return stmt.bindparams(bindparam("docs", expanding=True)) if docs is not None else stmt


def _search_sqlite(session: Session, phrases: list[list[str]], k: int, docs: list[str] | None,
                   latest_only: bool) -> list[tuple[str, float]]:
    match = " OR ".join(f'"{" ".join(p)}"' for p in phrases)
    join, where, params = _filters(docs, latest_only, "d.is_latest IS NOT 0")
    sql = (f"SELECT c.id, bm25(chunks_fts) AS rank FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.chunk_id"
           f"{join} WHERE chunks_fts MATCH :q{where} ORDER BY rank LIMIT :k")
    rows = session.execute(_bind(sql, docs), {"q": match, "k": k, **params}).all()
    return [(r[0], -float(r[1])) for r in rows]


# BM25 as FTS5's bm25() computes it: per phrase, IDF = ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6, times
# tf (k1 + 1) / (tf + k1 (1 - b + b len / avglen)), over every row of the index. A phrase of several terms
# matches where its terms stand side by side (tsquery `<->`), its tf approximated by its rarest term's.
_PG_BM25 = """
WITH qp AS (SELECT * FROM unnest(CAST(:pi AS integer[]), CAST(:pq AS text[])) AS qp(i, query)),
q AS (SELECT * FROM unnest(CAST(:qi AS integer[]), CAST(:qt AS text[])) AS q(i, term)),
hit AS (SELECT qp.i, f.chunk_id FROM qp JOIN chunks_fts f ON f.tsv @@ to_tsquery('simple', qp.query)),
ph AS (SELECT hit.i, hit.chunk_id, min(p.tf) AS tf FROM hit JOIN q ON q.i = hit.i
       JOIN chunks_fts_terms p ON p.term = q.term AND p.chunk_id = hit.chunk_id GROUP BY hit.i, hit.chunk_id),
df AS (SELECT i, count(*) AS nhit FROM ph GROUP BY i),
st AS (SELECT count(*)::float8 AS n, avg(n_tokens)::float8 AS avgdl FROM chunks_fts),
sc AS (SELECT ph.chunk_id, sum(greatest(ln((st.n - df.nhit + 0.5) / (df.nhit + 0.5)), 1e-6)
              * (ph.tf * {k1p}) / (ph.tf + {k1} * (1 - {b} + {b} * f.n_tokens / st.avgdl))) AS score
       FROM ph JOIN df ON df.i = ph.i JOIN chunks_fts f ON f.chunk_id = ph.chunk_id CROSS JOIN st
       GROUP BY ph.chunk_id)
SELECT sc.chunk_id, sc.score FROM sc JOIN chunks c ON c.id = sc.chunk_id{join}
WHERE TRUE{where} ORDER BY sc.score DESC, sc.chunk_id LIMIT :k
"""


def _search_postgres(session: Session, phrases: list[list[str]], k: int, docs: list[str] | None,
                     latest_only: bool) -> list[tuple[str, float]]:
    qi, qt = [], []
    for i, p in enumerate(phrases):
        for t in p:
            qi.append(i)
            qt.append(t)
    pi, pq = list(range(len(phrases))), [" <-> ".join(p) for p in phrases]  # blinded terms: [a-z2-7] only
    join, where, params = _filters(docs, latest_only, "d.is_latest IS NOT false")
    sql = _PG_BM25.format(k1p=_K1 + 1, k1=_K1, b=_B, join=join, where=where)
    rows = session.execute(_bind(sql, docs), {"pi": pi, "pq": pq, "qi": qi, "qt": qt, "k": k, **params}).all()
    return [(r[0], float(r[1])) for r in rows]
