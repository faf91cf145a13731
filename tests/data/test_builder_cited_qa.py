import json
import re

from test_builder_clauses import FILLER, NAMES, contract, make_view

from lextune.core.records import ClauseAnnotation
from lextune.data import cuad_categories, prompts
from lextune.data.builders.base import BuildContext, Passage, get_builder
from lextune.data.builders.cited_qa import CitedQAOptions
from lextune.evals.metrics import is_not_found

PASSAGE = re.compile(r"^\[(\d+)\]\n", re.MULTILINE)


def passages_of(prompt: str) -> dict[int, str]:
    """The numbered passages of a cited_qa prompt, by number."""
    body = prompt.split("Passages:\n\n", 1)[1].split("\n\nQuestion: ", 1)[0]
    parts = PASSAGE.split(body)
    return {int(n): text.strip() for n, text in zip(parts[1::2], parts[2::2])}


def build(views, seed=0, build_types=(), retrieve=None, **options):
    builder = get_builder("cited_qa")()
    ctx = BuildContext(seed=seed, clause_types=list(build_types), options=CitedQAOptions(**options),
                       retrieve=retrieve)
    rows = [r for v in views for r in builder.document_rows(v, ctx)]
    builder.corpus_rows(ctx, {})
    return rows, builder, ctx


def test_answers_quote_the_gold_clause_and_cite_the_passage_that_holds_it():
    view = contract()
    rows, _, _ = build([view], passages=4)
    answerable = [r for r in rows if r.meta["answerable"]]
    assert {r.label for r in answerable} == {"Governing Law", "Audit Rights", "Cap on Liability", "Insurance",
                                             "Anti-Assignment"}
    for r in answerable:
        cat = cuad_categories.BY_NAME[r.label]
        shown = passages_of(r.messages[1]["content"])
        assert sorted(shown) == list(range(1, 5)) and r.messages[1]["content"].count(f"Question: {cat.ask}\n") == 1
        [gold] = r.meta["gold_citations"]
        clauses = [view.text(a.start, a.end) for a in view.annotations if a.clause_type == r.label]
        quoted = re.findall(r'"(.*?)" \[(\d+)\]', r.answer)
        assert r.answer.startswith(cat.lead + ": ") and quoted
        for quote, n in quoted:
            assert int(n) == gold and quote in clauses and quote in shown[gold]
        for n, text in shown.items():  # no other passage holds a clause of the asked category
            if n != gold:
                assert not any(c in text for c in clauses)
        assert [p["n"] for p in r.meta["passages"]] == [1, 2, 3, 4]
        g = r.meta["passages"][gold - 1]
        assert view.text(g["start"], g["end"]).strip() == shown[gold]
        assert r.chunk_ids and set(r.chunk_ids) == {c for p in r.meta["passages"] for c in p["chunk_ids"]}


def test_both_adjacent_clauses_are_quoted_with_their_citation():
    rows, _, _ = build([contract()], passage_chars=400)
    [audit] = [r for r in rows if r.label == "Audit Rights" and r.meta["answerable"]]
    n = audit.meta["gold_citations"][0]
    assert audit.answer == (
        'Yes: "[PARTY_1] may audit the books and records of [PARTY_2] once a year." '
        f'[{n}]; "[PARTY_2] shall give the auditors access to its premises during business hours." [{n}]')


def test_unanswerable_rows_say_so_and_show_no_clause_of_the_category():
    views = [contract(f"d{i}", split="train" if i % 2 else "dev") for i in range(10)]
    rows, builder, _ = build(views, unanswerable_share=0.3)
    by_doc = {v.id: v for v in views}
    for split in ("train", "dev"):
        mine = [r for r in rows if r.split == split]
        none = [r for r in mine if not r.meta["answerable"]]
        assert abs(len(none) / len(mine) - 0.3) <= 1 / len(mine)
        assert builder.describe()["unanswerable_share"]["splits"][split]["count"] == len(none)
    unanswerable = [r for r in rows if not r.meta["answerable"]]
    assert unanswerable
    for r in unanswerable:
        assert r.answer == prompts.CITED_NOT_FOUND and r.meta["gold_citations"] == []
        assert is_not_found(r.answer)  # the evaluation and RAG stages read it as "absent"
        assert cuad_categories.BY_NAME[r.label].absence_reliable
        doc = by_doc[r.document_id]
        for p in r.meta["passages"]:
            assert not any(a.clause_type == r.label and a.start < p["end"] and p["start"] < a.end
                           for a in doc.annotations)


def test_documents_without_clause_labels_get_no_unanswerable_rows():
    nli = ClauseAnnotation(clause_type="nda-11", start=0, end=20, text="x", kind="nli", label="Entailment")
    nda = make_view("nda", "\n\n".join([FILLER.format(n=i) for i in range(8)]), [nli])
    rows, _, _ = build([contract(), nda], unanswerable_share=0.9)
    assert rows and not [r for r in rows if r.document_id == "nda"]


def test_retrieved_distractors_join_answerable_rows_only():
    calls = []

    def retrieve(query, split, k, exclude):
        calls.append((query, split, k, exclude))
        return [Passage(chunk_id="other-c1", document_id="other", start=0, end=60,
                        text="Payment is due within thirty days of the invoice date, by wire transfer.")]

    view = contract()
    rows, _, _ = build([view], retrieve=retrieve, retrieved_distractors=1, passages=3)
    assert calls and all(c[1] == "train" and c[3] == view.id for c in calls)
    for r in rows:
        foreign = [p for p in r.meta["passages"] if p["document_id"] == "other"]
        assert len(foreign) == (1 if r.meta["answerable"] else 0)
        assert "other-c1" not in r.chunk_ids  # a row's chunk ids stay within its own document
        if foreign:
            assert "Payment is due" in passages_of(r.messages[1]["content"])[foreign[0]["n"]]
            assert foreign[0]["n"] not in r.meta["gold_citations"]


def test_no_raw_names_and_deterministic():
    views = [contract(f"d{i}") for i in range(3)]
    a, _, _ = build(views, seed=5)
    b, _, _ = build(views, seed=5)
    c, _, _ = build(views, seed=6)
    assert [r.model_dump() for r in a] == [r.model_dump() for r in b] != [r.model_dump() for r in c]
    assert len({r.id for r in a}) == len(a)
    for r in a:
        assert not any(name in json.dumps(r.model_dump()) for name in NAMES)


def test_prompt_is_shared_and_numbered():
    prompt = prompts.cited_qa_prompt("Which law governs this agreement?", ["alpha", "beta"])
    assert passages_of(prompt) == {1: "alpha", 2: "beta"}
    assert prompts.CITED_NOT_FOUND in prompt
    assert prompts.cited_quote_answer("Yes", [("q", 2)]) == 'Yes: "q" [2]'
