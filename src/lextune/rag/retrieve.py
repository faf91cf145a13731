"""Retrieval: BM25 over the vault's blind full-text index (lextune.core.fts), optionally fused with dense MiniLM vectors by reciprocal rank.

The mode ("bm25" or "hybrid") is asked for per request and reported in every `Retrieval`; nothing falls
back silently. No cross-encoder reranker is bundled (nothing may be downloaded), so there is no rerank
step: the fused ranking is final. Each retrieved chunk is shown as one window of at most PASSAGE_CHARS
characters (the part that best matches the question), and the passage's span is that window's span.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
from pydantic import BaseModel
from sqlalchemy import select

from lextune.core import fts
from lextune.core.errors import LextuneError
from lextune.core.fts_query import fts_query
from lextune.core.records import Chunk
from lextune.core.store import Store
from lextune.core.tables import ChunkRow, DocumentRow
from lextune.rag.embeddings import Embedder, get_embedder
from lextune.rag.records import MODES, Passage, Retrieval
from lextune.rag.text import content_words
from lextune.rag.vectors import dense_search, embed_chunks, missing_chunks
from lextune.vault.vault import naming_unreadable

__all__ = ["DEFAULT_K", "MIN_CONFIDENCE", "PASSAGE_CHARS", "Hit", "fts_query", "retrieve", "rrf", "search",
           "shown_window"]

DEFAULT_K = 4
# As long as the passages the cited_qa training rows show by default (CitedQAOptions.passage_chars): a
# small model's answers degrade on contexts much longer than it was tuned on.
PASSAGE_CHARS = 500
CANDIDATES = 50  # depth of each ranked list before fusion
RRF_K = 60  # the usual constant of reciprocal rank fusion (Cormack et al., 2009)
# Below these the reply is the refusal with the nearest passages. Confidence is, for hybrid, the highest
# cosine between the question and a shown passage (MiniLM, unit vectors); for bm25, the highest share of
# the question's content words found in one shown passage. Both were chosen on the calibration half of
# the held-out cited-QA set (benchmarks/cited_qa.py --calibrate: CUAD dev and ContractNLI dev documents
# whose id hash is even: 10 + 10 documents, each question scoped to its document), maximizing balanced
# accuracy of "answerable?" there (bm25 0.429 -> 0.705, hybrid 0.676 -> 0.708); the other half is the one
# reported. See benchmarks/cited_qa.py.
MIN_CONFIDENCE: dict[str, float] = {"bm25": 0.43, "hybrid": 0.68}

_BREAK = re.compile(r"(?:(?<=[.;:!?])\s+|\n\s*)(?=\S)")


class Hit(BaseModel):
    chunk: Chunk
    title: str
    score: float  # BM25, higher is better (SQLite's bm25() negated)


def _bm25_ranked(store: Store, question: str, k: int, document_ids: Iterable[str] | None) -> list[tuple[str, float]]:
    with store.session() as s:
        return fts.search(s, store.keyring, question, k, document_ids)


def _chunks(store: Store, ids: list[str]) -> dict[str, Hit]:
    if not ids:
        return {}
    # Through the ORM columns: chunk text and titles are sealed, only their types open them.
    q = (select(ChunkRow.id, ChunkRow.document_id, ChunkRow.idx, ChunkRow.start, ChunkRow.end, ChunkRow.section,
                ChunkRow.text, DocumentRow.title)
         .join(DocumentRow, DocumentRow.id == ChunkRow.document_id).where(ChunkRow.id.in_(ids)))
    with store.session() as s, naming_unreadable(s, ChunkRow, ids, "chunk"):
        rows = s.execute(q).all()
    return {r[0]: Hit(chunk=Chunk(id=r[0], document_id=r[1], index=r[2], start=r[3], end=r[4], section=r[5] or "",
                                  text=r[6]), title=r[7], score=0.0) for r in rows}


def search(store: Store, question: str, k: int = 4, document_ids: Iterable[str] | None = None) -> list[Hit]:
    """Top-k chunks for the question by BM25 alone, best first (whole chunks, not shown windows)."""
    ranked = _bm25_ranked(store, question, k, document_ids)
    hits = _chunks(store, [cid for cid, _ in ranked])
    return [hits[cid].model_copy(update={"score": score}) for cid, score in ranked if cid in hits]


def rrf(rankings: list[list[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: score(d) = sum over lists of 1 / (k + rank), rank from 1; best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def candidate_windows(body: str, size: int = PASSAGE_CHARS) -> list[tuple[int, int]]:
    """Spans [a, b) of `body` to show: the whole (trimmed) body when short, else windows of at most `size`
    characters starting at sentence or line starts and ending at a word boundary."""
    lead = len(body) - len(body.lstrip())
    tail = len(body.rstrip())
    if tail - lead <= size:
        return [(lead, tail)] if tail > lead else []
    starts = sorted({lead, *(m.end() for m in _BREAK.finditer(body, lead, tail))})
    out: list[tuple[int, int]] = []
    for a in starts:
        if out and a < out[-1][0] + 40:  # near-identical windows add cost, not choice
            continue
        b = min(tail, a + size)
        if b < tail:
            cut = body.rfind(" ", a + size // 2, b + 1)
            b = cut if cut > a else b
        b = len(body[:b].rstrip())
        if b > a:
            out.append((a, b))
        if b >= tail:
            break
    return out


def shown_window(body: str, question: str, size: int = PASSAGE_CHARS) -> tuple[int, int]:
    """The window of `body` sharing the most of the question's content words (the first on ties)."""
    windows = candidate_windows(body, size)
    if not windows:
        return 0, 0
    terms = set(content_words(question))
    return max(windows, key=lambda w: len(terms & set(content_words(body[w[0]: w[1]]))))


def _coverage(question: str, passage: str) -> float:
    terms = set(content_words(question))
    return len(terms & set(content_words(passage))) / len(terms) if terms else 0.0


def retrieve(store: Store, question: str, k: int = DEFAULT_K, mode: str = "hybrid", *,
             document_ids: Iterable[str] | None = None, embedder: Embedder | None = None,
             min_confidence: float | None = None) -> Retrieval:
    """The k passages to show for a question, numbered [1]..[k], with a confidence and whether it passes.

    "hybrid" fuses BM25 and dense rankings by RRF (k=60) and computes missing chunk vectors first (lazily);
    "bm25" needs no embedder. `document_ids` limits the search to those documents.
    """
    if mode not in MODES:
        raise LextuneError(f"unknown retrieval mode {mode!r}; use one of: {', '.join(MODES)}")
    if k < 1:
        raise LextuneError("k must be at least 1")
    docs = list(document_ids) if document_ids is not None else None
    bm25 = _bm25_ranked(store, question, CANDIDATES, docs)
    qvec = None
    if mode == "hybrid":
        embedder = embedder or get_embedder()
        if missing_chunks(store, embedder.name):
            embed_chunks(store, embedder)
        qvec = embedder.encode([question])[0]
        dense = dense_search(store, qvec, CANDIDATES, embedder.name, set(docs) if docs is not None else None)
        ranked = rrf([[cid for cid, _ in bm25], [cid for cid, _ in dense]])[:k]
    else:
        ranked = bm25[:k]
    hits = _chunks(store, [cid for cid, _ in ranked])
    chosen = [(hits[cid], score) for cid, score in ranked if cid in hits]
    passages = _show(chosen, question, qvec, embedder)
    if qvec is not None and passages and embedder is not None:
        sims = embedder.encode([p.text for p in passages]) @ qvec
        confidence = float(sims.max())
    else:
        confidence = max((_coverage(question, p.text) for p in passages), default=0.0)
    threshold = MIN_CONFIDENCE[mode] if min_confidence is None else min_confidence
    return Retrieval(question=question, mode=mode, passages=passages, confidence=round(confidence, 4),
                     confident=bool(passages) and confidence >= threshold)


def _show(chosen: list[tuple[Hit, float]], question: str, qvec: np.ndarray | None,
          embedder: Embedder | None) -> list[Passage]:
    """One window per chunk: by question-term overlap, or (hybrid) by similarity to the question."""
    spans: list[tuple[int, int]] = []
    for hit, _ in chosen:
        windows = candidate_windows(hit.chunk.text)
        if qvec is not None and embedder is not None and len(windows) > 1:
            sims = embedder.encode([hit.chunk.text[a:b] for a, b in windows]) @ qvec
            spans.append(windows[int(np.argmax(sims))])
        else:
            spans.append(shown_window(hit.chunk.text, question))
    shown = [(hit, score, a, b) for (hit, score), (a, b) in zip(chosen, spans) if b > a]
    return [
        Passage(number=n, chunk_id=hit.chunk.id, document_id=hit.chunk.document_id, title=hit.title,
                section=hit.chunk.section, start=hit.chunk.start + a, end=hit.chunk.start + b,
                text=hit.chunk.text[a:b], score=round(score, 6))
        for n, (hit, score, a, b) in enumerate(shown, start=1)
    ]
