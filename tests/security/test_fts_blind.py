"""The blind full-text index: FTS5's tokens in Python, BM25 rankings as a plain FTS5 index gives them,
on SQLite and PostgreSQL, no plaintext term in the index, and a plaintext index from before rebuilt.

`python tests/security/test_fts_blind.py` rewrites src/lextune/core/fts_unicode61.py from this SQLite.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text

from lextune.core import fts
from lextune.core.fts import ensure_fts, fts_query_terms, reindex_fts
from lextune.core.fts_tokens import fold, raw_tokens, terms
from lextune.core.store import Store
from lextune.rag.retrieve import fts_query, retrieve
from lextune.vault.vault import Vault

QUERIES = [
    "Which state's law governs this agreement?", "termination for convenience and notice period",
    "non-compete restriction after termination", "exclusive distributor in the territory",
    "audit rights over books and records", "limitation of liability for consequential damages",
    "insurance coverage requirements", "assignment on a change of control", "most favored nation pricing",
    "minimum purchase commitment", "revenue sharing and royalties", "ownership of intellectual property",
    "technology possibly licensed", "warranty duration", "liquidated damages", "the of and",
]
ODD_QUERIES = ["notices by e_mail", "Café résumé NAÏVE Straße"]  # a phrase of two terms; folding


def _plain_fts(chunks: list[tuple[str, str, str]]) -> sqlite3.Connection:
    """The index lextune had before blinding, over the same chunks, in memory."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(chunk_id UNINDEXED, section, text, "
               "tokenize = 'porter unicode61')")
    db.executemany("INSERT INTO chunks_fts VALUES (?, ?, ?)", chunks)
    return db


def _plain_search(db: sqlite3.Connection, question: str) -> dict[str, float]:
    q = fts_query(question)
    if not q:
        return {}
    return {c: -r for c, r in db.execute("SELECT chunk_id, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts "
                                          "MATCH ? ORDER BY bm25(chunks_fts)", (q,))}


def _assert_same_ranking(blind: list[tuple[str, float]], plain: dict[str, float]) -> None:
    """Same chunks with the same scores, in an order the plain scores agree with (ties in any order)."""
    assert {c for c, _ in blind} == set(plain)
    for c, score in blind:
        assert math.isclose(score, plain[c], rel_tol=1e-9, abs_tol=1e-12), (c, score, plain[c])
    ordered = [plain[c] for c, _ in blind]
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(ordered))


def _contracts(tmp_path: Path, n: int) -> Path:
    from conftest import sample_squad

    path = tmp_path / "cuad_subset.json"
    path.write_text(json.dumps({"data": sample_squad()["data"][:n]}))
    return path


def _chunks(store: Store) -> list[tuple[str, str, str]]:
    vault = Vault(store)
    return [(c.id, c.section, c.text) for d in vault.documents() for c in vault.chunks(d.id)]


@pytest.fixture(scope="module")
def cuad_store(tmp_path_factory):
    """Ten CUAD contracts (about 700 chunks) in a fresh SQLite store, shared by the ranking tests."""
    from lextune.core.config import Settings

    root = tmp_path_factory.mktemp("fts-blind")
    store = Store(Settings(home=root / "home", master_key_file=root / "master.key", audit_key_file=root / "audit.key"))
    report = Vault(store, workers=1).ingest([_contracts(root, 10)])
    assert len(report.added) == 10 and not report.errors
    yield store
    store.close()


# ---------------------------------------------------------------- tokens


def test_terms_are_the_ones_fts5_porter_unicode61_indexes(cuad_store):
    bodies = [body for _, _, body in _chunks(cuad_store)[:300]]
    words = ["ies", "sses", "caresses", "ponies", "agreed", "feed", "hopping", "filing", "happy", "sky",
             "relational", "conditional", "digitizer", "technology", "possibly", "generalization", "hopefulness",
             "electrical", "adjustment", "adoption", "controll", "roll", "E_mail", "naïve", "NAÏVE", "Straße",
             "ǖ", "x\u0301y", "\u0301", "ΣΊΣΥΦΟΣ", "İstanbul", "ﬁnancial", "x" * 70 + "ing", "ab", "abs"]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'porter unicode61')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    texts = bodies + words
    db.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", list(enumerate(texts, 1)))
    got: dict[int, list[tuple[int, str]]] = {}
    for term, doc, _col, offset in db.execute("SELECT term, doc, col, offset FROM v"):
        got.setdefault(doc, []).append((offset, term))
    for i, t in enumerate(texts, 1):
        assert [term for _, term in sorted(got.get(i, []))] == terms(t), t[:80]


def test_folding_follows_unicode61_for_every_character_tested():
    # Every BMP code point and every 16th beyond it, between two letters: split, kept, folded or dropped.
    cps = [c for c in range(1, 0x10000) if not 0xD800 <= c < 0xE000] + list(range(0x10000, 0x110000, 16))
    cls, folds = unicode61_table(cps)
    for c in cps:
        want = {0: ["q", "q"], 2: ["qq"]}.get(cls[c], ["q" + folds.get(c, chr(c)) + "q"])
        assert [f for f in map(fold, raw_tokens("q" + chr(c) + "q")) if f] == want, hex(c)


def test_query_terms_are_the_phrases_fts5_made_of_the_query():
    assert fts_query_terms("What is the governing law, possibly by e_mail?") == [
        ["govern"], ["law"], ["possibl"], ["e", "mail"]]
    assert fts_query_terms("the of and ??") == []


# ---------------------------------------------------------------- rankings


def test_bm25_over_the_blind_index_ranks_as_plain_fts5_did(cuad_store):
    plain = _plain_fts(_chunks(cuad_store))
    n_hits = 0
    with cuad_store.session() as s:
        for q in QUERIES + ODD_QUERIES:
            blind = fts.search(s, cuad_store.keyring, q, 100_000, latest_only=False)
            _assert_same_ranking(blind, _plain_search(plain, q))
            n_hits += len(blind)
        # The limit and the document filter cut the same ranking.
        ranked = fts.search(s, cuad_store.keyring, QUERIES[0], 100_000, latest_only=False)
        assert fts.search(s, cuad_store.keyring, QUERIES[0], 7) == ranked[:7]  # all 10 are latest
        doc = ranked[-1][0].split(":")[0]
        assert fts.search(s, cuad_store.keyring, QUERIES[0], 5, doc_ids=[doc]) == [
            r for r in ranked if r[0].startswith(doc + ":")][:5]
    assert n_hits > 1000  # the queries match: the comparison is not vacuous


def test_the_index_holds_no_plaintext_term(cuad_store):
    with cuad_store.session() as s:
        rows = s.execute(text("SELECT section, text FROM chunks_fts")).all()
    assert rows and all(re.fullmatch(r"[a-z2-7 ]*", sec + " " + body) for sec, body in rows)
    vocabulary = {t for _, sec, body in _chunks(cuad_store) for t in terms(sec + " " + body)}
    stored = {t for sec, body in rows for t in (sec + " " + body).split()}
    assert len(stored) == len(vocabulary) and not stored & vocabulary  # one blinded term per term, none in clear


def test_a_plaintext_index_from_before_is_dropped_at_open_and_rebuilt(tmp_path):
    from lextune.core.config import Settings

    settings = Settings(home=tmp_path / "home", master_key_file=tmp_path / "master.key",
                        audit_key_file=tmp_path / "audit.key")
    store = Store(settings)
    Vault(store, workers=1).ingest([_contracts(tmp_path, 2)])
    with store.session() as s:
        before = [c for c, _ in fts.search(s, store.keyring, QUERIES[0], 10)]
    assert before
    chunks = _chunks(store)
    with store.engine.begin() as conn:  # what lextune had before: a plaintext porter index
        conn.exec_driver_sql("DROP TABLE chunks_fts")
        conn.exec_driver_sql("DELETE FROM fts_state")
        conn.exec_driver_sql("CREATE VIRTUAL TABLE chunks_fts USING fts5(chunk_id UNINDEXED, section, text, "
                             "tokenize = 'porter unicode61')")
        conn.exec_driver_sql("INSERT INTO chunks_fts VALUES (?, ?, ?)", chunks)
    store.close()

    store = Store(settings)  # ensure_fts drops the plaintext index at once
    with store.engine.connect() as conn:
        assert "'ascii'" in conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'").scalar()
        assert conn.exec_driver_sql("SELECT count(*) FROM chunks_fts").scalar() == 0
        assert conn.exec_driver_sql("SELECT value FROM fts_state WHERE key = 'index'").scalar() == "rebuild"
    # ... and the first search rebuilds it from the sealed chunks.
    with store.session() as s:
        assert [c for c, _ in fts.search(s, store.keyring, QUERIES[0], 10)] == before
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM chunks_fts").scalar() == len(chunks)
    assert reindex_fts(store) == len(chunks)  # the explicit rebuild gives the same index
    with store.session() as s:
        assert [c for c, _ in fts.search(s, store.keyring, QUERIES[0], 10)] == before
    ensure_fts(store.engine)  # idempotent: an index already blind is kept
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM chunks_fts").scalar() == len(chunks)
    store.close()


def test_postgres_ranks_as_plain_fts5(db_store, tmp_path):
    """The same rankings on either database (on PostgreSQL: BM25 in SQL over the postings)."""
    Vault(db_store, workers=1).ingest([_contracts(tmp_path, 4)])
    plain = _plain_fts(_chunks(db_store))
    with db_store.session() as s:
        for q in QUERIES:
            _assert_same_ranking(fts.search(s, db_store.keyring, q, 100_000, latest_only=False),
                                 _plain_search(plain, q))
        doc = _chunks(db_store)[0][0].split(":")[0]
        assert fts.count_documents(s, [doc]) > 0
        n = fts.delete_documents(s, [doc])
        assert n > 0 and fts.count_documents(s, [doc]) == 0
        assert not any(c.startswith(doc) for c, _ in fts.search(s, db_store.keyring, QUERIES[0], 1000))
    assert retrieve(db_store, "Which law governs?", k=2, mode="bm25").passages


# ---------------------------------------------------------------- the table, from SQLite


def unicode61_table(cps: list[int]) -> tuple[dict[int, int], dict[int, str]]:
    """SQLite's unicode61 (remove_diacritics 1) per code point: 0 separator, 1 token character, 2 dropped
    inside a token; and what each token character folds to, where it changes."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'unicode61')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    db.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", [(c, "q" + chr(c) + "q") for c in cps])
    got: dict[int, list[tuple[int, str]]] = {}
    for term, doc, _col, offset in db.execute("SELECT term, doc, col, offset FROM v"):
        got.setdefault(doc, []).append((offset, term))
    cls, folds = {}, {}
    for c in cps:
        toks = [t for _, t in sorted(got.get(c, []))]
        cls[c] = 0 if toks == ["q", "q"] else 2 if toks == ["qq"] else 1
        if cls[c] == 1 and toks[0][1:-1] != chr(c):
            folds[c] = toks[0][1:-1]
    return cls, folds


def _ranges(cps) -> str:
    spans: list[list[int]] = []
    for c in sorted(cps):
        if spans and c == spans[-1][1] + 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    return " ".join(f"{a:x}" if a == b else f"{a:x}-{b:x}" for a, b in spans)


def write_unicode61_table(path: Path) -> None:
    cps = [c for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000]
    cls, folds = unicode61_table(cps)
    wrap = lambda s: "\n".join(textwrap.wrap(s, 110))
    old = path.read_text()
    head = old[: old.index("# Ranges (hex, inclusive) of token characters.")]
    head = re.sub(r"Generated from SQLite [\d.]+", f"Generated from SQLite {sqlite3.sqlite_version}", head)
    path.write_text(
        f'{head}# Ranges (hex, inclusive) of token characters.\nTOKEN_CHARS = """\n'
        f"{wrap(_ranges(c for c, k in cls.items() if k == 1))}\n\"\"\"\n\n"
        f"# Ranges of combining diacritics: part of a token, folded to nothing (\"e\\u0301\" -> \"e\").\n"
        f'DROPPED = """\n{wrap(_ranges(c for c, k in cls.items() if k == 2))}\n"""\n\n'
        f"# code point:folded code point (hex), for every token character that folds to another.\n"
        f'FOLD = """\n{wrap(" ".join(f"{c:x}:{ord(f):x}" for c, f in sorted(folds.items())))}\n"""\n')


if __name__ == "__main__":
    write_unicode61_table(Path(__file__).resolve().parents[2] / "src" / "lextune" / "vault" / "fts_unicode61.py")
    sys.exit(0)
