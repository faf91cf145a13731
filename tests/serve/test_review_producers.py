"""Producers of the review queue: cited answers and contract analyses, picked per scope by the review policy."""

from __future__ import annotations

import httpx
import openai
import pytest
from sqlalchemy import select

from lextune.analysis.analyze import analyze_document
from lextune.analysis.playbook import Playbook
from lextune.core.tables_review import ReviewItemRow
from lextune.data import prompts
from lextune.data.builders.corrections import item_row
from lextune.rag.grounding import grounded_messages, verify_answer
from lextune.rag.records import Passage, Retrieval
from lextune.review.candidates import ReviewCandidate, enqueue
from lextune.review.from_analysis import analysis_candidates
from lextune.review.from_answers import cited_answer_candidate, claim_span
from lextune.review.policy import ReviewPolicy, sampled
from lextune.serve.app import create_app
from lextune.serve.background import live_server
from lextune.serve.config import ScopeConfig, ServeConfig

P1 = "The Supplier shall deliver the goods within thirty (30) days of each purchase order."
P2 = ("This Agreement is governed by the laws of the State of New York. Each party submits to the courts of "
      "New York County.")


def _retrieval() -> Retrieval:
    return Retrieval(question="Which law governs?", mode="bm25", confident=True, confidence=0.9, passages=[
        Passage(number=n, chunk_id=f"c{n}", document_id=f"doc{n}", title="msa", section="", start=0,
                end=len(t), text=t, score=1.0) for n, t in ((1, P1), (2, P2))])


def _items(store) -> list[ReviewItemRow]:
    with store.session() as s:
        rows = list(s.scalars(select(ReviewItemRow).order_by(ReviewItemRow.created_at)))
        for r in rows:
            s.expunge(r)
        return rows


# ------------------------------------------------------------------------------------------- policy


def test_policy_queues_low_confidence_always_and_samples_the_rest_stably():
    policy = ReviewPolicy(sample_rate=0.1, below_confidence=0.5)
    assert policy.why("cited_answer", 0.2, "k") == "low_confidence"
    assert policy.why("cited_answer", 0.2, "k") == policy.why("cited_answer", 0.2, "k")
    share = sum(policy.why("cited_answer", 0.9, f"req-{i}") == "sampled" for i in range(20_000)) / 20_000
    assert 0.09 < share < 0.11
    assert [sampled(f"r{i}", 0.3) for i in range(50)] == [sampled(f"r{i}", 0.3) for i in range(50)]
    assert ReviewPolicy(sample_rate=0, below_confidence=None).why("cited_answer", 0.0, "k") is None
    assert ReviewPolicy(tasks=[]).why("cited_answer", 0.0, "k") is None
    assert ReviewPolicy(sample_rate=1.0).why("contract_analysis", None, "k") == "sampled"
    with pytest.raises(ValueError):
        ReviewPolicy(sample_rate=1.5)
    with pytest.raises(ValueError, match="tasks"):
        ReviewPolicy(tasks=["privilige"])


def test_serve_config_names_a_policy_typo(tmp_path):
    from lextune.core.errors import ConfigError
    from lextune.serve.config import load_serve_config

    path = tmp_path / "serve.yaml"
    path.write_text("scopes:\n  default:\n    review:\n      sample_rat: 0.1\n")
    with pytest.raises(ConfigError, match="sample_rat"):
        load_serve_config(path)
    path.write_text("scopes:\n  default:\n    review:\n      sample_rate: 0.25\n      tasks: [cited_answer]\n")
    assert load_serve_config(path).scope("default").review.sample_rate == 0.25


# ------------------------------------------------------------------------------------- cited answers


def test_a_cited_answer_shows_the_passages_with_the_cited_words_highlighted():
    retrieval = _retrieval()
    answer = verify_answer('The agreement is governed by "the laws of the State of New York" [2].', retrieval)
    c = cited_answer_candidate(retrieval.question, retrieval, answer, key="req-1", model_version="v1",
                               matter="acme", request_id="req-1")
    assert c.source_text[c.span_start:c.span_end] == "the laws of the State of New York"
    assert c.prompt == grounded_messages(retrieval.question, retrieval.passages)[1]["content"]
    assert c.source_text in c.prompt  # the training row asks exactly what the model was asked
    assert c.confidence == 1.0 and c.document_id == "doc2" and c.output["cited"] == [2]
    # One statement of two verified: half; verification emptied it: 0; nothing asked: none.
    half = verify_answer('Governed by "the laws of the State of New York" [2]. Delivery takes a week [1].',
                         retrieval)
    assert cited_answer_candidate("q", retrieval, half, key="k", model_version=None, matter=None,
                                  request_id=None).confidence == 0.5
    none = verify_answer("It is Delaware law.", retrieval)
    assert none.refused and cited_answer_candidate("q", retrieval, none, key="k", model_version=None, matter=None,
                                                   request_id=None).confidence == 0.0
    low = verify_answer("", retrieval.model_copy(update={"confident": False}))
    assert cited_answer_candidate("q", retrieval, low, key="k", model_version=None, matter=None,
                                  request_id=None).confidence is None


def test_claim_span_finds_the_sentence_sharing_most_words():
    assert P2[slice(*claim_span(P2, "The parties submit to New York County courts"))].startswith(" Each party")
    assert claim_span(P1, "nothing in common at all") == (0, len(P1))


def test_candidates_refuse_spans_outside_their_text_and_enqueue_once(store):
    with pytest.raises(ValueError, match="outside"):
        ReviewCandidate(key="k", task="cited_answer", source_text="abc", span_start=1, span_end=9, output={})
    c = ReviewCandidate(key="k", task="cited_answer", source_text="abc", span_start=0, span_end=2,
                        output={"text": "x"}, confidence=0.1)
    assert enqueue(store, [c]) == enqueue(store, [c]) == [c.item_id]
    assert len(_items(store)) == 1
    with store.session() as s:  # a lawyer decides; the same output queued again (a retry, a resumed batch)
        s.get(ReviewItemRow, c.item_id).status = "accepted"
    enqueue(store, [c, c.model_copy(update={"key": "k2", "id": "named-by-producer"})])
    assert {r.id: r.status for r in _items(store)} == {c.item_id: "accepted", "named-by-producer": "pending"}


def test_a_corrected_cited_answer_trains_on_the_prompt_the_model_saw(store):
    retrieval = _retrieval()
    answer = verify_answer("Delaware.", retrieval)
    c = cited_answer_candidate(retrieval.question, retrieval, answer, key="req-2", model_version="v1",
                               matter="acme", request_id="req-2")
    [item_id] = enqueue(store, [c])
    fixed = 'Governed by "the laws of the State of New York" [2].'
    item = {**{k: getattr(c, k) for k in ("task", "matter", "document_id", "source_text", "span_start", "span_end",
                                          "prompt", "output", "model_version", "extra")},
            "id": item_id, "status": "corrected", "correction": {"text": fixed}, "reviewer": "ann",
            "reviewed_at": None}
    row = item_row(item, "train", "doc2")
    assert row.messages[-2]["content"] == c.prompt and row.answer == fixed and row.task == "cited_answer"


# ---------------------------------------------------------------------------------- contract analysis

CONTRACT = ("SUPPLY AGREEMENT\n\n1. Governing Law. This Agreement is governed by the laws of the State of Delaware, "
            "without regard to its conflict of laws principles.\n\n2. Renewal. This Agreement renews automatically "
            "for successive one year terms unless either party gives thirty (30) days' written notice.\n")


def _analysis():
    def classify(conversations):
        return ["Governing Law" if "Delaware" in c[-1]["content"] else "Renewal Term" for c in conversations]

    def quote(conversations):  # the first quote is verbatim, the renewal one is not in the passage
        return ["This Agreement is governed by the laws of the State of Delaware" if "Delaware" in c[-1]["content"]
                else "renews every decade" for c in conversations]

    playbook = Playbook.model_validate({"name": "test", "required": ["Cap on Liability"]})
    return analyze_document(CONTRACT, playbook, classify, quote=quote, name="supply.txt")


def test_analysis_candidates_rate_clauses_by_the_quote_check():
    analysis = _analysis()
    law, renewal = (next(c for c in analysis.clauses if c.type == t) for t in ("Governing Law", "Renewal Term"))
    assert law.verified is True and renewal.verified is False
    picked = analysis_candidates(analysis, ReviewPolicy(sample_rate=0), request_id="r", matter="m",
                                 model_version="v1")
    assert [(c.task, c.output["label"], c.extra["why"]) for c in picked] == [
        ("clause_extraction", "Renewal Term", "low_confidence")]
    [c] = picked
    assert c.source_text[c.span_start:c.span_end] == renewal.text
    assert CONTRACT[renewal.passage_start:renewal.passage_end] == c.source_text
    assert c.prompt == prompts.clause_quote_prompt(c.source_text, "Renewal Term")
    everything = analysis_candidates(analysis, ReviewPolicy(sample_rate=1.0), request_id="r", matter="m",
                                     model_version="v1")
    flags = [c for c in everything if c.task == "contract_analysis"]
    missing = next(c for c in flags if "Cap on Liability" in c.output["label"])
    assert missing.span_start is None and missing.source_text == CONTRACT and missing.confidence is None
    assert {c.task for c in everything} == {"clause_extraction", "contract_analysis"}
    assert len({c.item_id for c in everything}) == len(everything)


# ------------------------------------------------------------------------------------- through serve


def test_served_answers_and_analyses_reach_the_queue_per_scope_policy(store, tiny_model_dir, tmp_path):
    from lextune.vault.vault import Vault

    (tmp_path / "supply.txt").write_text(CONTRACT)
    Vault(store).ingest([tmp_path / "supply.txt"])
    config = ServeConfig(base_model=str(tiny_model_dir), scopes={
        "default": ScopeConfig(retrieve=True, k=2, mode="bm25",
                               review=ReviewPolicy(sample_rate=1.0, matter="Acme supply"))})
    question = [{"role": "user", "content": "Which law governs the supply agreement?"}]
    with live_server(create_app(store, config)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)
        asked = client.chat.completions.create(model="active", messages=question, max_tokens=12)
        again = client.chat.completions.create(model="active", messages=question, max_tokens=12, stream=True)
        streamed = [c for c in again if not c.choices or c.choices[0].finish_reason]
        analysed = httpx.post(f"{server.url}/v1/lextune/analyze", timeout=120, json={
            "text": CONTRACT, "model": "active", "playbook": {"name": "t", "required": ["Cap on Liability"]}})
    trace = asked.model_extra["lextune"]
    stream_trace = streamed[-1].model_extra["lextune"]
    assert stream_trace["review"]["item"] != trace["review"]["item"]
    assert analysed.status_code == 200, analysed.text
    queued = analysed.json()["lextune"]["review"]["items"]
    rows = {r.id: r for r in _items(store)}
    answer = rows[trace["review"]["item"]]
    # sample_rate 1 queues everything; below the default 0.5 it is queued for its confidence first
    low = answer.confidence is not None and answer.confidence < 0.5
    assert trace["review"]["why"] == ("low_confidence" if low else "sampled") == answer.extra["why"]
    assert answer.task == "cited_answer" and answer.matter == "Acme supply"
    assert answer.request_id == trace["request_id"] and answer.model_version == trace["model_version"]
    assert answer.prompt and answer.output["text"] == asked.choices[0].message.content
    assert queued and {rows[i].task for i in queued} >= {"contract_analysis"}
    assert all(rows[i].request_id == analysed.json()["lextune"]["request_id"] for i in queued)


def test_a_scope_with_review_off_queues_nothing(store, tiny_model_dir, tmp_path):
    from lextune.vault.vault import Vault

    (tmp_path / "supply.txt").write_text(CONTRACT)
    Vault(store).ingest([tmp_path / "supply.txt"])
    config = ServeConfig(base_model=str(tiny_model_dir), scopes={
        "default": ScopeConfig(retrieve=True, k=2, mode="bm25", review=ReviewPolicy(tasks=[]))})
    with live_server(create_app(store, config)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)
        asked = client.chat.completions.create(
            model="active", messages=[{"role": "user", "content": "Which law governs?"}], max_tokens=8)
    assert "review" not in asked.model_extra["lextune"] and _items(store) == []
