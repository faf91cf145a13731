"""Benchmark: the blind full-text index (lextune.core.fts) against a plain FTS5 'porter unicode61' index.

Measured in one run, in one store, on the same chunks (CUAD train contracts ingested by lextune):
- the FTS step of ingest, one transaction per document as `Vault.ingest` does: plain = INSERT of the chunk
  text into a plain FTS5 table; blind = `fts.index_chunks` (tokenize and stem in Python, blind each term
  with HMAC-SHA256, INSERT the blinded text into the FTS5 'ascii' table), with the term cache empty (a new
  keyring: the first ingest) and warm (every later one);
- query latency (the two alternating, query by query): plain = FTS5 MATCH of `fts_query(question)` with bm25(), the same joins and LIMIT as
  retrieval; blind = `fts.search` (the question tokenized and blinded, then the same SQL); each of the 41
  CUAD category questions (name and description) R times, median and p95;
- whether both rank the same (top CANDIDATES chunks, scores within 1e-9, ties in either order);
- the index size (dbstat: the FTS5 shadow tables).
With --postgres URL, also the same index on PostgreSQL (a fresh schema): rebuild time and query latency.

    .venv/bin/python benchmarks/fts_blind_index.py [--cuad PATH] [--limit 200] [--repeat 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import _corpus
from sqlalchemy import create_engine, select, text

from lextune.core import fts, fts_tokens
from lextune.core.config import Settings
from lextune.core.fts_query import fts_query
from lextune.core.store import Store
from lextune.core.tables import ChunkRow
from lextune.rag.retrieve import CANDIDATES
from lextune.vault.vault import Vault

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CUAD = REPO.parent / "shared" / "data" / "cuad" / "cuad_train.contracts.jsonl.gz"
CATEGORIES = DEFAULT_CUAD.with_name("category_descriptions.csv")
_PLAIN_DDL = """CREATE VIRTUAL TABLE plain_fts USING fts5(chunk_id UNINDEXED, section, text,
                tokenize = 'porter unicode61')"""
_PLAIN_SQL = text("""SELECT c.id, bm25(plain_fts) AS rank FROM plain_fts JOIN chunks c ON c.id = plain_fts.chunk_id
                     JOIN documents d ON d.id = c.document_id WHERE plain_fts MATCH :q AND d.is_latest IS NOT 0
                     ORDER BY rank LIMIT :k""")


def questions() -> list[str]:
    with open(CATEGORIES, encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))[1:]
    return [f"{r[0].removeprefix('Category: ')}: {r[1].removeprefix('Description: ')}" for r in rows]


def open_store(home: Path, url: str | None = None, schema: str | None = None) -> Store:
    return Store(Settings(home=home, database_url=url, database_schema=schema,
                          master_key_file=home.parent / f"{home.name}.master.key",
                          audit_key_file=home.parent / f"{home.name}.audit.key"))


def chunks_by_document(store: Store) -> list[list[tuple[str, str, str]]]:
    with store.session() as s:
        rows = s.execute(select(ChunkRow.document_id, ChunkRow.id, ChunkRow.section, ChunkRow.text)
                         .order_by(ChunkRow.document_id, ChunkRow.idx)).all()
    docs: dict[str, list[tuple[str, str, str]]] = {}
    for doc, cid, sec, body in rows:
        docs.setdefault(doc, []).append((cid, sec or "", body))
    return list(docs.values())


def time_plain_ingest(store: Store, docs) -> float:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS plain_fts")
        conn.exec_driver_sql(_PLAIN_DDL)
    t0 = time.perf_counter()
    for rows in docs:
        with store.session() as s:
            s.execute(text("INSERT INTO plain_fts(chunk_id, section, text) VALUES (:c, :s, :t)"),
                      [{"c": c, "s": sec, "t": body} for c, sec, body in rows])
    return time.perf_counter() - t0


def time_blind_ingest(store: Store, docs, cold: bool) -> float:
    with store.session() as s:
        fts._delete_all(s)
    if cold:
        fts_tokens._BLINDERS.pop(store.keyring, None)  # a new keyring's first ingest: no term cached
    t0 = time.perf_counter()
    for rows in docs:
        with store.session() as s:
            fts.index_chunks(s, store.keyring, rows)
    return time.perf_counter() - t0


def latencies(runs, qs: list[str], repeat: int) -> list[list[float]]:
    """Per run, its latencies; the runs alternate query by query, so load on the machine hits both alike."""
    out: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for q in qs:
            for i, run in enumerate(runs):
                t0 = time.perf_counter()
                run(q)
                out[i].append(time.perf_counter() - t0)
    return out


def summary(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"median_ms": round(1000 * statistics.median(xs), 3), "p95_ms": round(1000 * xs[int(0.95 * (len(xs) - 1))], 3),
            "mean_ms": round(1000 * statistics.fmean(xs), 3)}


def same_ranking(blind: list[tuple[str, float]], plain: list[tuple[str, float]]) -> bool:
    """Equal up to the order of tied scores (and which tied chunk the LIMIT kept at the cut)."""
    if len(blind) != len(plain):
        return False
    pa = dict(plain)
    cut = plain[-1][1] if plain else 0.0
    for (cb, sb), (_, sp) in zip(blind, plain, strict=True):
        if abs(sb - sp) > 1e-9 * max(1.0, abs(sp)):
            return False
        if cb not in pa and abs(sb - cut) > 1e-9 * max(1.0, abs(cut)):
            return False
    return True


def fts_bytes(store: Store, prefix: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE :p"),
                                {"p": f"{prefix}%"}).scalar_one())


def run_postgres(url: str, root: Path, contracts_dir: Path, qs: list[str], repeat: int) -> dict:
    schema = f"lt_bench_{uuid.uuid4().hex[:8]}"
    store = open_store(root / "pg", url, schema)
    try:
        t0 = time.perf_counter()
        Vault(store, workers=2).ingest([contracts_dir])
        ingest_s = time.perf_counter() - t0
        fts_tokens._BLINDERS.pop(store.keyring, None)
        t0 = time.perf_counter()
        n = fts.reindex_fts(store)
        rebuild_s = time.perf_counter() - t0
        with store.session() as s:
            [lat] = latencies([lambda q: fts.search(s, store.keyring, q, CANDIDATES)], qs, repeat)
        return {"ingest_s_total": round(ingest_s, 2), "chunks": n, "rebuild_s (read+open+index)": round(rebuild_s, 2),
                "query": summary(lat)}
    finally:
        store.close()
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cuad", type=Path, default=DEFAULT_CUAD)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--postgres", default=None, help="a PostgreSQL URL whose role may create schemas")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="lextune-fts-bench-"))
    contracts = _corpus.read_contracts(args.cuad, args.limit)
    n_chars = _corpus.write_texts(contracts, root / "contracts")
    store = open_store(root / "home")
    t0 = time.perf_counter()
    report = Vault(store, workers=2).ingest([root / "contracts"])
    ingest_s = time.perf_counter() - t0
    docs = chunks_by_document(store)
    n_chunks = sum(map(len, docs))
    qs = questions()

    plain_s = time_plain_ingest(store, docs)
    blind_cold_s = time_blind_ingest(store, docs, cold=True)
    blind_warm_s = time_blind_ingest(store, docs, cold=False)

    with store.session() as s:
        def plain(q: str) -> list[tuple[str, float]]:
            fq = fts_query(q)
            return [(r[0], -float(r[1])) for r in s.execute(_PLAIN_SQL, {"q": fq, "k": CANDIDATES})] if fq else []

        def blind(q: str) -> list[tuple[str, float]]:
            return fts.search(s, store.keyring, q, CANDIDATES)

        equal = sum(same_ranking(blind(q), plain(q)) for q in qs)
        lat_plain, lat_blind = latencies([plain, blind], qs, args.repeat)
    sizes = {"plain_fts_bytes": fts_bytes(store, "plain_fts"), "blind_fts_bytes": fts_bytes(store, "chunks_fts")}
    store.close()

    per_chunk = lambda s: round(1e6 * s / n_chunks, 1)
    out = {
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPU cores",
        "corpus": {"contracts": len(contracts), "documents": len(report.added), "chunks": n_chunks,
                   "chars": n_chars, "ingest_s_total (sealed, workers=2)": round(ingest_s, 2)},
        "fts_ingest": {
            "plain_s": round(plain_s, 3), "blind_cold_s": round(blind_cold_s, 3), "blind_warm_s": round(blind_warm_s, 3),
            "plain_us_per_chunk": per_chunk(plain_s), "blind_cold_us_per_chunk": per_chunk(blind_cold_s),
            "blind_warm_us_per_chunk": per_chunk(blind_warm_s),
            "ratio_cold": round(blind_cold_s / plain_s, 2), "ratio_warm": round(blind_warm_s / plain_s, 2),
            "blind_cold_share_of_ingest": round(blind_cold_s / ingest_s, 3),
        },
        "query": {"questions": len(qs), "repeat": args.repeat, "k": CANDIDATES,
                  "plain": summary(lat_plain), "blind": summary(lat_blind),
                  "ratio_median": round(statistics.median(lat_blind) / statistics.median(lat_plain), 2),
                  "same_ranking": f"{equal}/{len(qs)}"},
        "size": {**sizes, "ratio": round(sizes["blind_fts_bytes"] / max(sizes["plain_fts_bytes"], 1), 2)},
    }
    if args.postgres:
        out["postgres"] = run_postgres(args.postgres, root, root / "contracts", qs, args.repeat)
    shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
