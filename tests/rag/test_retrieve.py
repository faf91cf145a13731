from lextune.rag.retrieve import fts_query, search
from lextune.vault.vault import Vault


def test_fts_query_quotes_words_and_drops_syntax():
    assert fts_query('What is the "governing" law? OR NEAR(x)') == '"governing" OR "law" OR "near" OR "x"'
    assert fts_query("?? the") == ""


def test_search_ranks_the_relevant_chunk_first(store, tmp_path):
    (tmp_path / "a.txt").write_text(
        "1. DEFINITIONS\n\nTerms used here have their usual meaning in commerce and trade.\n\n"
        "2. GOVERNING LAW\n\nThis Agreement is governed by the laws of the State of Delaware.\n")
    (tmp_path / "b.txt").write_text("1. PAYMENT\n\nInvoices are payable within thirty days of receipt.\n")
    Vault(store).ingest([tmp_path / "a.txt", tmp_path / "b.txt"])
    hits = search(store, "Which state's law governs?", k=3)
    assert hits and "Delaware" in hits[0].chunk.text
    assert hits[0].title == "a"
    text = Vault(store).document_text(hits[0].chunk.document_id)
    assert text[hits[0].chunk.start: hits[0].chunk.end] == hits[0].chunk.text


def test_quote_check_finds_verbatim_answers_only():
    from lextune.rag.answer import is_quoted_from

    passage = "10.5 GOVERNING LAW. This Agreement shall be governed by the laws of the State of New York."
    assert is_quoted_from("this agreement shall be  governed by the laws of the State of New York [S2]", passage)
    assert not is_quoted_from("governed by the laws of California", passage)
    assert not is_quoted_from("New York", passage)  # too short to prove anything
    assert not is_quoted_from("Not found", passage)
