import pytest

from lextune.rag.retrieve import candidate_windows, fts_query, retrieve, rrf, search
from lextune.vault.vault import Vault


def test_fts_query_quotes_words_and_drops_syntax():
    assert fts_query('What is the "governing" law? OR NEAR(x)') == '"governing" OR "law" OR "near" OR "x"'
    assert fts_query("?? the") == ""


def _ingest(store, tmp_path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    Vault(store).ingest([tmp_path / name for name in files])


LAW = ("1. DEFINITIONS\n\nTerms used here have their usual meaning in commerce and trade.\n\n"
       "2. GOVERNING LAW\n\nThis Agreement is governed by the laws of the State of Delaware.\n")
PAY = "1. PAYMENT\n\nInvoices are payable within thirty days of receipt.\n"


def test_search_ranks_the_relevant_chunk_first(store, tmp_path):
    _ingest(store, tmp_path, {"a.txt": LAW, "b.txt": PAY})
    hits = search(store, "Which state's law governs?", k=3)
    assert hits and "Delaware" in hits[0].chunk.text
    assert hits[0].title == "a"
    text = Vault(store).document_text(hits[0].chunk.document_id)
    assert text[hits[0].chunk.start: hits[0].chunk.end] == hits[0].chunk.text


def test_rrf_sums_reciprocal_ranks():
    fused = rrf([["a", "b", "c"], ["c", "a"]], k=60)
    assert [d for d, _ in fused] == ["a", "c", "b"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2][1] == pytest.approx(1 / 62)


def test_windows_are_bounded_and_start_at_sentences():
    body = " ".join(f"Sentence {i} says something about clause {i}." for i in range(60))
    windows = candidate_windows(body, 200)
    assert len(windows) > 3 and all(b - a <= 200 for a, b in windows)
    assert all(body[a: a + 8] == "Sentence" for a, b in windows)
    assert candidate_windows("  short  ", 200) == [(2, 7)]


def test_long_chunk_reports_the_span_of_the_window_shown(store, tmp_path):
    filler = " ".join(f"The supplier shall deliver lot {i} on schedule." for i in range(60))
    _ingest(store, tmp_path, {"long.txt": f"1. SUPPLY\n\n{filler} Any dispute is governed by the laws of Ohio. {filler}\n"})
    r = retrieve(store, "Which laws govern a dispute?", k=2, mode="bm25")
    p = r.passages[0]
    text = Vault(store).document_text(p.document_id)
    chunk = Vault(store).chunks(p.document_id)[0]
    assert chunk.end - chunk.start > len(p.text) and len(p.text) <= 500
    assert text[p.start: p.end] == p.text and "Ohio" in p.text


def test_bm25_refuses_below_threshold_with_nearest_passages(store, tmp_path):
    _ingest(store, tmp_path, {"a.txt": LAW, "b.txt": PAY})
    r = retrieve(store, "Is there an invoice penalty for late delivery of goods?", k=2, mode="bm25")
    assert r.passages and r.mode == "bm25"
    low = retrieve(store, "Is there an invoice penalty for late delivery of goods?", k=2, mode="bm25", min_confidence=0.99)
    assert not low.confident and low.passages == r.passages
