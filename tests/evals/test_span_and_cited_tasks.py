"""Span extraction (clause_quote, cuad) and cited QA: metrics computed by hand, loaders on tiny fixtures,
predict() with a deterministic fake scorer."""

from __future__ import annotations

import gzip
import json
import math

import pytest

from lextune.core.errors import ConfigError, DatasetError
from lextune.core.records import DatasetRow
from lextune.data import prompts
from lextune.evals.records import Generation, Prediction
from lextune.evals.scoring.cited import parse_cited_answer
from lextune.evals.scoring.span import (
    aupr,
    best_match,
    exact_match,
    normalize_answer,
    pr_curve,
    precision_at_recall,
    quote_confidence,
    span_metrics,
    token_f1,
)
from lextune.evals.tasks import make_task
from lextune.evals.tasks.cited_qa import split_numbered_passages
from lextune.evals.tasks.span import split_quotes, window_bounds

NF = prompts.NOT_FOUND


def pred(gold, generated, conf=None, clause_type=None, tokens=1) -> Prediction:
    logprob = None if conf is None else math.log(conf) * tokens
    return Prediction(example_id="x", task="t", gold=gold, generated=generated, answer_logprob=logprob,
                      answer_tokens=tokens, meta={"clause_type": clause_type} if clause_type else {})


# ---------------------------------------------------------------- span metrics


def flat(points):
    return [x for point in points for x in point]


def test_normalisation_drops_case_punctuation_articles_and_spacing():
    assert normalize_answer("  The Seller,  an L.L.C.\u201d ") == "seller llc"
    assert exact_match("the Agreement.", "AGREEMENT") == 1.0
    assert exact_match("Agreement", "Agreements") == 0.0


def test_token_f1_by_hand():
    # pred tokens: governed by laws of delaware (5); gold: this agreement is governed by laws of state of
    # delaware (10). Shared: governed, by, laws, of (once: pred has one), delaware = 5 -> P 1, R .5, F1 2/3.
    gold = "This Agreement is governed by the laws of the State of Delaware."
    assert token_f1("governed by the laws of Delaware", gold) == pytest.approx(2 / 3)
    assert token_f1("of of", "of") == pytest.approx(2 * 0.5 * 1 / 1.5)  # multiplicity counts
    assert token_f1("the", "a") == 1.0 and token_f1("the", "word") == 0.0  # empty after normalising


def test_best_of_golds_takes_the_best_clause():
    golds = ["Licensee shall pay royalties.", "This Agreement is governed by Delaware law."]
    f1, em = best_match("governed by Delaware law", golds)
    # gold normalises to 7 tokens (this agreement is governed by delaware law), all 4 pred tokens shared:
    # P 1, R 4/7, F1 8/11
    assert em == 0.0 and f1 == pytest.approx(8 / 11)
    assert best_match("Licensee shall pay royalties", golds) == (1.0, 1.0)


def test_not_found_outcomes_and_per_type():
    clause = "This Agreement is governed by Delaware law."
    rows = [
        pred(NF, "Not found."),  # true negative
        pred(NF, "Some invented quote", clause_type="Governing Law"),  # false positive
        pred([clause], NF, clause_type="Governing Law"),  # false negative
        pred([clause], "governed by Delaware law", clause_type="Governing Law"),  # hit at F1 8/11, not EM
        pred(["Seller may audit the books.", clause], clause, clause_type="Audit Rights"),  # exact hit
    ]
    m = span_metrics(rows)
    assert m["outcomes"] == {"true_negative": 1, "false_positive": 1, "false_negative": 1,
                             "quoted_answerable": 2}
    assert (m["n"], m["answerable"], m["unanswerable"], m["quotes_given"]) == (5, 3, 2, 3)
    assert m["overlap_threshold"] == 0.5
    assert m["overlap_precision"] == pytest.approx(2 / 3) and m["overlap_recall"] == pytest.approx(2 / 3)
    assert m["exact_precision"] == pytest.approx(1 / 3) and m["exact_recall"] == pytest.approx(1 / 3)
    assert m["exact_f1"] == pytest.approx(1 / 3)
    assert m["mean_token_f1"] == pytest.approx((0 + 8 / 11 + 1) / 3)
    assert m["mean_exact_match"] == pytest.approx(1 / 3)
    assert m["not_found_accuracy"] == 0.5
    gl = m["per_clause_type"]["Governing Law"]
    assert (gl["n"], gl["quotes_given"], gl["overlap_precision"], gl["overlap_recall"]) == (3, 2, 0.5, 0.5)
    assert m["per_clause_type"]["Audit Rights"]["overlap_f1"] == 1.0
    assert m["ranked_by_confidence"] is False  # no log-probabilities given


def test_aupr_and_precision_at_recall_on_a_five_row_ranking():
    g = ["Seller shall keep records for audit."]
    rows = [
        pred(g, g[0], conf=0.9),  # hit
        pred(NF, "a quote on an unanswerable row", conf=0.8),  # false positive
        pred(g, g[0], conf=0.7),  # hit
        pred(g, "something else entirely", conf=0.6),  # quote below the F1 threshold: miss
        pred(g, NF, conf=0.99),  # "Not found": never ranked, whatever its confidence
    ]
    # 4 answerable rows. Thresholds .9 .8 .7 .6 -> (R, P) = (.25, 1) (.25, .5) (.5, 2/3) (.5, .5),
    # after CUAD's starting point (0, 1).
    # Interpolated precisions 1, 1, 2/3, 2/3, .5; trapezoids: .25 * 1 + .25 * 2/3 = 5/12.
    points = pr_curve([(0.9, True), (0.8, False), (0.7, True), (0.6, False)], 4)
    assert flat(points) == pytest.approx(flat([(0, 1), (0.25, 1), (0.25, 0.5), (0.5, 2 / 3), (0.5, 0.5)]))
    assert aupr(points) == pytest.approx(5 / 12)
    assert precision_at_recall(points, 0.5) == pytest.approx(2 / 3)
    m = span_metrics(rows)
    assert m["aupr"] == pytest.approx(5 / 12)
    assert m["precision_at_80_recall"] == 0.0  # 80% recall never reached
    assert m["ranked_by_confidence"] is True


def test_precision_at_80_recall_when_reached():
    # 5 answerable: .9 hit, .8 miss, .7 hit, .6 hit, .5 hit -> (.2, 1) (.2, .5) (.4, 2/3) (.6, .75) (.8, .8).
    # Interpolated: 1, 1, .8, .8, .8, .8; area .2 + 3 * (.2 * .8) = .68; P@80R = .8.
    points = pr_curve([(0.9, True), (0.8, False), (0.7, True), (0.6, True), (0.5, True)], 5)
    assert aupr(points) == pytest.approx(0.68)
    assert precision_at_recall(points, 0.8) == pytest.approx(0.8)
    # Ties enter together: one point for both .5s.
    assert pr_curve([(0.5, True), (0.5, False)], 2) == [(0, 1), (0.5, 0.5)]


def test_confidence_is_the_per_token_geometric_mean():
    p = Prediction(example_id="x", task="t", gold="g", generated="a quote", answer_logprob=-2.0,
                   answer_tokens=4)
    assert quote_confidence(p) == pytest.approx(math.exp(-0.5))
    assert quote_confidence(p.model_copy(update={"generated": "Not found"})) is None


# ---------------------------------------------------------------- clause_quote task

EXCERPT = ("1. Definitions. Terms defined in the Schedule have the meanings given there, and the singular "
           "includes the plural. Headings are for convenience only and do not affect interpretation.\n"
           "2. Payment. Invoices are payable within thirty days of receipt by wire transfer.\n"
           "12. Governing Law. This Agreement shall be governed by\nthe laws of New York.\n"
           "13. Notices. Notices go to the addresses above.\n"
           "14. Venue. The parties submit to the courts of New York County.")
CLAUSE_A = "This Agreement shall be governed by\nthe laws of New York."  # a clause spanning two lines
CLAUSE_B = "The parties submit to the courts of New York County."


def _row(i: int, excerpt: str, clause_type: str, answer: str) -> DatasetRow:
    user = prompts.clause_quote_prompt(excerpt, clause_type)
    messages = [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user},
                {"role": "assistant", "content": answer}]
    return DatasetRow(id=f"row-{i}", task="clause_quote", split="test", label=clause_type,
                      document_id=f"doc-{i}", messages=messages, answer=answer)


@pytest.fixture()
def quote_file(tmp_path):
    rows = [_row(1, EXCERPT, "Governing Law", f"{CLAUSE_A}\n{CLAUSE_B}"),
            _row(2, EXCERPT, "Audit Rights", NF)]
    other = DatasetRow(id="row-3", task="clause_type", split="test", document_id="doc-3", answer="x",
                       messages=[{"role": "user", "content": "?"}, {"role": "assistant", "content": "x"}])
    path = tmp_path / "test.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in [*rows, other]), encoding="utf-8")
    return path


def test_split_quotes_regroups_multiline_clauses():
    assert split_quotes(f"{CLAUSE_A}\n{CLAUSE_B}", EXCERPT) == [CLAUSE_A, CLAUSE_B]
    assert split_quotes("not in the excerpt", EXCERPT) == ["not in the excerpt"]


def test_clause_quote_loader_recovers_every_gold_clause(quote_file):
    task = make_task(f"clause_quote:{quote_file}")
    ex = task.load()
    assert [e.id for e in ex] == ["row-1", "row-2"]  # the clause_type row is not asked
    assert ex[0].gold == [CLAUSE_A, CLAUSE_B, f"{CLAUSE_A}\n{CLAUSE_B}"]
    assert ex[1].gold == NF
    assert ex[0].doc_id == "doc-1" and ex[0].meta["clause_type"] == "Governing Law"
    assert ex[0].meta["excerpt"] == EXCERPT
    assert [m["role"] for m in ex[0].prompt] == ["system", "user"]  # the gold answer turn is not shown
    # directory source: DIR/test.jsonl
    assert len(make_task(f"clause_quote:{quote_file.parent}").load()) == 2


def test_echo_baseline_scores_below_a_right_quote(quote_file):
    task = make_task(f"clause_quote:{quote_file}")
    ex = task.load()
    base = task.baselines(ex)
    assert set(base) == {"echo_excerpt", "always_not_found"}
    # Echo: the excerpt's best token F1 against either clause is < .5, and it is a false positive on row-2.
    assert base["echo_excerpt"]["overlap_f1"] == 0.0 and base["echo_excerpt"]["quotes_given"] == 2
    never = base["always_not_found"]
    assert never["not_found_accuracy"] == 1.0 and never["overlap_f1"] == 0.0
    right = task.score([Prediction(example_id=e.id, task=e.task, gold=e.gold, generated=a)
                        for e, a in zip(ex, [CLAUSE_B, NF])])
    assert right["overlap_f1"] == 1.0 and right["exact_f1"] == 1.0
    assert right[task.headline] > base["echo_excerpt"][task.headline]


class FakeScorer:
    """Answers by a fixed rule so predict() is tested without a model: quote clause B for Governing Law."""

    key = "fake"

    def __init__(self):
        self.calls = []

    def generate(self, prompts_, max_new_tokens, progress=None):
        self.calls.append(max_new_tokens)
        out = []
        for p in prompts_:
            text = p[-1]["content"]
            answer = CLAUSE_B if '"Governing Law"' in text else NF
            out.append(Generation(text=answer, logprob=-1.0, tokens=2))
        if progress:
            progress(len(prompts_))
        return out


def test_predict_with_a_fake_scorer(quote_file):
    task = make_task(f"clause_quote:{quote_file}", max_new_tokens=32)
    ex = task.load()
    scorer = FakeScorer()
    ticks = []
    preds = task.predict(scorer, ex, progress=ticks.append)
    assert scorer.calls == [32] and ticks == [2]
    assert [p.generated for p in preds] == [CLAUSE_B, NF]
    assert (preds[0].answer_logprob, preds[0].answer_tokens, preds[0].doc_id) == (-1.0, 2, "doc-1")
    assert preds[0].meta["clause_type"] == "Governing Law"
    m = task.score(preds)
    assert m["overlap_f1"] == 1.0 and m["not_found_accuracy"] == 1.0
    assert m["aupr"] == pytest.approx(1.0) and m["precision_at_80_recall"] == 1.0


def test_clause_quote_errors(tmp_path, quote_file):
    with pytest.raises(DatasetError, match="no rows of task clause_quote"):
        path = tmp_path / "other.jsonl"
        path.write_text(quote_file.read_text().splitlines()[-1] + "\n")
        make_task(f"clause_quote:{path}").load()
    with pytest.raises(ConfigError, match="clause_quote' option 'max_new_tokens'"):
        make_task(f"clause_quote:{quote_file}", max_new_tokens=0)
    # options meant for other tasks of the run (dataset_tasks hands row_tasks to every dataset task)
    assert make_task(f"clause_quote:{quote_file}", row_tasks=["clause_quote"], shots=3).load()


# ---------------------------------------------------------------- cuad task

GOV = "This Agreement is governed by the laws of Delaware."
FILLER = "The parties agree to the terms below and each term is binding on them. "


def _contract() -> str:
    return FILLER * 4 + GOV + " " + FILLER * 4 + "Acme Corp signs here."


def _squad(context: str) -> dict:
    title = "ACME-LICENSE"
    qa = [
        {"id": f"{title}__Governing Law", "question": 'related to "Governing Law"',
         "answers": [{"text": GOV, "answer_start": context.index(GOV)}], "is_impossible": False},
        {"id": f"{title}__Audit Rights", "question": 'related to "Audit Rights"', "answers": [],
         "is_impossible": True},
        {"id": f"{title}__Parties", "question": 'related to "Parties"',
         # a wrong answer_start: the answer is found by its text
         "answers": [{"text": "Acme Corp", "answer_start": 0}], "is_impossible": False},
    ]
    return {"version": "test", "data": [{"title": title, "paragraphs": [{"context": context, "qas": qa}]}]}


def test_windows_never_cut_a_clause():
    text = "aaaa bbbb cccc dddd eeee"
    # a cut at 7 moves to whitespace (9), then past the span (5, 14) to 14
    assert window_bounds(text, [(5, 14)], 7) == [(0, 14), (14, 24)]


def test_cuad_loader_windows_and_gold(tmp_path):
    context = _contract()
    path = tmp_path / "cuad.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(_squad(context), f)
    ex = make_task(f"cuad:{path}", window_chars=300).load()
    by_type = {}
    for e in ex:
        by_type.setdefault(e.meta["clause_type"], []).append(e)
    gov = by_type["Governing Law"]
    assert [e.gold for e in gov if e.gold != NF] == [[GOV]]  # the clause is whole inside one window
    assert len(gov) == 2  # plus one sampled window without it
    assert len(by_type["Audit Rights"]) == 1 and by_type["Audit Rights"][0].gold == NF
    # Parties: CUAD labels only some mentions, so no "Not found" windows are made for it
    assert [e.gold for e in by_type["Parties"]] == [["Acme Corp"]]
    e = gov[0] if gov[0].gold != NF else gov[1]
    assert e.doc_id == "ACME-LICENSE" and GOV in e.meta["excerpt"]
    assert e.prompt[-1]["content"] == prompts.clause_quote_prompt(e.meta["excerpt"], "Governing Law")
    only = make_task(f"cuad:{path}", window_chars=300, categories="governing law",
                     negatives_per_category=0).load()
    assert [x.gold for x in only] == [[GOV]]


def test_cuad_bad_files(tmp_path):
    bad = _squad(_contract())
    bad["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["text"] = "No such words."
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"bad\.json: contract 'ACME-LICENSE' question 0"):
        make_task(f"cuad:{path}").load()
    path.write_text("{not json")
    with pytest.raises(DatasetError, match="bad.json: not a readable JSON"):
        make_task(f"cuad:{path}").load()
    with pytest.raises(DatasetError, match="unknown CUAD clause type"):
        make_task(f"cuad:{path}", categories=["Governing Lawz"])


# ---------------------------------------------------------------- cited QA

PASSAGES = ["The Supplier shall deliver goods monthly.",
            "This Agreement is governed by the laws of Texas.",
            "Either party may terminate on 30 days notice."]


def _cited_rows() -> list[DatasetRow]:
    def row(i, task, user, answer, label, meta):
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        return DatasetRow(id=f"c-{i}", task=task, split="test", document_id=f"doc-{i}", label=label,
                          answer=answer, messages=messages,
                          meta={**meta, "passages": [{"n": n} for n in range(1, len(PASSAGES) + 1)]})

    ask = "Which law governs this agreement?"
    answer = prompts.cited_quote_answer("The agreement names its governing law",
                                        [("governed by the laws of Texas", 2)])
    return [
        row(1, "cited_qa", prompts.cited_qa_prompt(ask, PASSAGES), answer, "Governing Law",
            {"answerable": True, "gold_citations": [2]}),
        row(2, "cited_qa", prompts.cited_qa_prompt("Who may audit the books?", PASSAGES),
            prompts.CITED_NOT_FOUND, "Audit Rights", {"answerable": False, "gold_citations": []}),
        row(3, "nli_evidence", prompts.nli_evidence_prompt("Either party may terminate.", PASSAGES),
            prompts.nli_answer("Entailment", [3]), "Entailment", {"gold_citations": [3]}),
    ]


@pytest.fixture()
def cited_task(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in _cited_rows()))
    return make_task(f"cited_qa:{path}")


def test_numbered_passages_parse_back_from_the_prompt():
    text = prompts.cited_qa_prompt("Q?", PASSAGES)
    assert split_numbered_passages(text, 3) == PASSAGES
    assert split_numbered_passages(prompts.nli_evidence_prompt("H.", PASSAGES), 3) == PASSAGES
    assert split_numbered_passages(text, 4) is None


def test_cited_loader(cited_task):
    ex = cited_task.load()
    assert [e.meta["row_task"] for e in ex] == ["cited_qa", "cited_qa", "nli_evidence"]
    assert ex[0].meta["passages"] == PASSAGES and ex[0].meta["gold_citations"] == [2]
    assert ex[0].meta["reference_quotes"] == ["governed by the laws of Texas"]
    assert ex[1].meta["answerable"] is False and ex[2].meta["gold_label"] == "Entailment"


def _score(task, answers):
    ex = task.load()
    return task.score([Prediction(example_id=e.id, task=e.task, gold=e.gold, generated=a, meta=dict(e.meta))
                       for e, a in zip(ex, answers)])


def test_cited_metrics_right_answers(cited_task):
    m = _score(cited_task, ['It says: "governed by the laws of Texas" [2]', prompts.CITED_NOT_FOUND,
                            "Entailment [3]"])
    assert (m["citation_precision"], m["citation_recall"], m["citation_f1"]) == (1.0, 1.0, 1.0)
    assert m["answer_token_f1"] == 1.0 and m["nli_label_accuracy"] == 1.0
    assert m["not_found_accuracy"] == 1.0 and m["invented_citation_rate"] == 0.0
    assert m[cited_task.headline] == 1.0
    assert m["by_task"]["nli_evidence"]["n"] == 1


def test_invented_citations_and_unsupported_quotes(cited_task):
    m = _score(cited_task, [
        '"governed by the laws of Texas" [2]; "deliver goods monthly" [7]',  # [7]: no passage 7 was shown
        '"deliver goods monthly" [3]',  # quote is in passage 1, not 3; and the row is unanswerable
        "Contradiction [3][1]",
    ])
    # claims: (q1,2) ok, (q2,7) invalid, (q3,3) unsupported, bare 3 ok, bare 1 ok -> 2 invented of 5
    assert m["citation_claims"] == 5 and m["invented_citation_rate"] == pytest.approx(2 / 5)
    assert m["invalid_citation_rate"] == pytest.approx(1 / 5)
    assert m["unsupported_quote_rate"] == pytest.approx(1 / 3)
    # cited {2,7} {3} {3,1} vs gold {2} {} {3}: tp 2 of 5 cited, 2 of 2 gold
    assert m["citation_precision"] == pytest.approx(2 / 5) and m["citation_recall"] == 1.0
    assert m["citation_f1"] == pytest.approx(2 * 0.4 / 1.4)
    assert m["not_found_accuracy"] == 0.0 and m["nli_label_accuracy"] == 0.0
    # quoted words "governed by laws of texas deliver goods monthly" (8) vs reference (5): P 5/8, R 1
    assert m["answer_token_f1"] == pytest.approx(2 * (5 / 8) / (1 + 5 / 8))


def test_parse_cited_answer_keeps_inner_quotes():
    a = parse_cited_answer('Lead: "the \u201cAgreement\u201d and "Term" apply" [1][2]; bare [3]')
    assert a.quotes == [('the \u201cAgreement\u201d and "Term" apply', [1, 2])] and a.bare == [3]


def test_cited_baselines(cited_task):
    ex = cited_task.load()
    base = cited_task.baselines(ex)
    nf, cite_all = base["always_not_found"], base["cite_all_passages"]
    assert nf["citation_f1"] == 0.0 and nf["not_found_accuracy"] == 1.0 and nf["citations_made"] == 0
    assert nf["not_found_on_answerable"] == 1.0 and nf["nli_label_accuracy"] == 0.0
    assert cite_all["citation_recall"] == 1.0 and cite_all["citation_precision"] == pytest.approx(2 / 9)
    assert cite_all["invented_citation_rate"] == 0.0  # whole passages are quoted: all are real
    assert cite_all["nli_label_accuracy"] == 1.0 and cite_all["not_found_accuracy"] == 0.0


def test_cited_predict_with_a_fake_scorer(cited_task):
    class Fixed:
        key = "fixed"

        def generate(self, prompts_, max_new_tokens, progress=None):
            return [Generation(text="Not found in the passages.", logprob=-0.5, tokens=3) for _ in prompts_]

    ex = cited_task.load()
    preds = cited_task.predict(Fixed(), ex)
    assert [p.answer_tokens for p in preds] == [3, 3, 3] and preds[2].meta["row_task"] == "nli_evidence"
    m = cited_task.score(preds)
    assert m["not_found_accuracy"] == 1.0 and m["nli_label_accuracy"] == 0.0  # NLI gold is Entailment


def test_cited_rows_without_passages_meta(tmp_path):
    row = _cited_rows()[0]
    row.meta.pop("passages")
    path = tmp_path / "test.jsonl"
    path.write_text(row.model_dump_json() + "\n")
    with pytest.raises(DatasetError, match="c-1: meta lacks"):
        make_task(f"cited_qa:{path}").load()
