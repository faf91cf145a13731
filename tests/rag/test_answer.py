"""`ask`: retrieval asked per request, an already loaded model, verified citations, an audit row."""

from sqlalchemy import select

from lextune.core.tables import AuditEventRow
from lextune.data import prompts
from lextune.rag.answer import ask, generate_fn_for
from lextune.rag.grounding import REFUSAL
from lextune.vault.vault import Vault

LAW = "1. GOVERNING LAW\n\nThis Agreement is governed by the laws of the State of Delaware.\n"


def _vault(store, tmp_path):
    (tmp_path / "a.txt").write_text(LAW)
    (tmp_path / "b.txt").write_text("1. PAYMENT\n\nInvoices are payable within thirty days of receipt.\n")
    Vault(store).ingest([tmp_path / "a.txt", tmp_path / "b.txt"])


def test_ask_uses_the_given_model_and_verifies(store, tmp_path):
    _vault(store, tmp_path)
    seen = []

    def fake(conversations):
        seen.extend(conversations)
        return ["The State of Delaware [1]. Payment is due in ninety days [2]."]

    a = ask(store, "Which state's law governs the agreement?", k=2, generate_fn=fake, mode="bm25", model_label="fake")
    assert seen and seen[0][1]["content"].startswith("Passages:\n\n[1]\n1. GOVERNING LAW")
    assert not a.refused and a.text.startswith("The State of Delaware [1]") and "ninety" not in a.text
    assert [(c.number, c.supported) for c in a.checks] == [(1, True), (2, False)]
    assert [c.mark for c in a.citations] == ["supported"]  # only the governing-law passage was retrieved
    assert a.model == "fake" and a.mode == "bm25" and "1 citation(s) failed" in a.grounding()
    with store.session() as s:
        event = s.scalars(select(AuditEventRow).where(AuditEventRow.action == "ask")).one()
    assert event.details["mode"] == "bm25" and event.details["citations"] == [[1, "contained"], [2, "not_retrieved"]]


def test_low_confidence_does_not_call_the_model(store, tmp_path):
    _vault(store, tmp_path)

    def never(conversations):
        raise AssertionError("the model must not be asked")

    a = ask(store, "Which state's law governs the agreement?", generate_fn=never, mode="bm25", min_confidence=1.01)
    assert a.refused and a.reason == "low_confidence" and a.text.startswith(REFUSAL) and a.raw_text == ""
    assert "Nearest passages:" in a.text and a.citations


def test_ask_with_a_tiny_model(store, tmp_path, tiny_model_dir):
    from lextune.models.loading import load_base_model

    _vault(store, tmp_path)
    model, tok, _ = load_base_model(str(tiny_model_dir))
    a = ask(store, "Which law governs?", k=2, generate_fn=generate_fn_for(model, tok, max_new_tokens=8), mode="bm25",
            model_label="tiny")
    assert a.model == "tiny" and a.raw_text  # a random model's words: refused unless they check out
    assert a.refused or all(c.supported for c in a.checks if str(c.number) in a.text)
    assert a.text.startswith(REFUSAL) == a.refused
    assert prompts.cite([1]) in a.text or a.refused
