"""Hybrid retrieval with the bundled MiniLM: lazily computed vectors, paraphrases BM25 misses."""

import numpy as np
import pytest
from sqlalchemy import func, select

from lextune.core.tables import ChunkVectorRow
from lextune.rag.embeddings import get_embedder
from lextune.rag.grounding import REFUSAL
from lextune.rag.retrieve import retrieve
from lextune.rag.vectors import embed_chunks, missing_chunks
from lextune.vault.vault import Vault

pytestmark = pytest.mark.slow  # loads the real MiniLM (about 5 s)

DOCS = {
    "law.txt": "1. GOVERNING LAW\n\nThis Agreement is governed by the laws of the State of Delaware.\n",
    "pay.txt": "1. PAYMENT\n\nThe contract price applies to every invoice; invoices are payable within thirty days.\n",
    "term.txt": "1. TERM\n\nThis contract applies for two years and then renews for one-year terms.\n",
    "conf.txt": "1. CONFIDENTIALITY\n\nEach party keeps the other's confidential information secret.\n",
}


@pytest.fixture()
def vault(store, tmp_path):
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text)
    Vault(store).ingest([tmp_path / name for name in DOCS])
    return store


def _count(store) -> int:
    with store.session() as s:
        return s.execute(select(func.count()).select_from(ChunkVectorRow)).scalar_one()


def test_vectors_are_computed_lazily_then_reused(vault):
    embedder = get_embedder()
    assert _count(vault) == 0 and missing_chunks(vault, embedder.name) > 0
    retrieve(vault, "payment terms", k=2, mode="bm25")
    assert _count(vault) == 0  # bm25 never embeds
    retrieve(vault, "payment terms", k=2, mode="hybrid")
    n = _count(vault)
    assert n > 0 and missing_chunks(vault, embedder.name) == 0
    assert embed_chunks(vault) == 0  # nothing left to do
    v = get_embedder().encode(["x"])
    assert v.shape == (1, 384) and np.isclose(np.linalg.norm(v[0]), 1.0)


def test_embed_chunks_reports_progress(vault):
    seen = []
    done = embed_chunks(vault, progress=lambda i, n: seen.append((i, n)), batch_size=2)
    assert done > 0 and seen[0] == (0, done) and seen[-1] == (done, done)


def test_hybrid_finds_a_paraphrase_bm25_misses(vault):
    # No word in common with the governing-law clause ("courts", "jurisdiction", "disputes").
    question = "Which courts and jurisdiction decide disputes?"
    bm25 = retrieve(vault, question, k=1, mode="bm25")
    hybrid = retrieve(vault, question, k=1, mode="hybrid")
    assert not any("Delaware" in p.text for p in bm25.passages)
    assert "Delaware" in hybrid.passages[0].text and hybrid.mode == "hybrid"


def test_unrelated_question_is_not_confident_and_refused(vault):
    from lextune.rag.grounding import verify_answer

    r = retrieve(vault, "What is the boiling point of mercury in kelvin?", k=2, mode="hybrid")
    assert not r.confident and r.passages
    g = verify_answer("", r)
    assert g.refused and g.reason == "low_confidence" and g.text.startswith(REFUSAL) and "[1]" in g.text
