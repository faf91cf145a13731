import json
from collections import Counter

import pytest
from test_builder_clauses import CLAUSES, NAMES, contract

from lextune.core.records import ClauseAnnotation
from lextune.data import cuad_categories, prompts
from lextune.data.builders.base import BuildContext, get_builder
from lextune.data.builders.clause_questions import ClauseQuestionsOptions

NON_COMPETE = "Bolt Traders LLC shall not sell any competing product in the Territory during the term."
LICENSE = "Acme Widgets Inc. grants Bolt Traders LLC a non-transferable license to use the Software."


def licensed_contract(doc_id="lic", split="train"):
    """The test contract plus one clause labelled both License Grant and Non-Transferable License, and an
    Exclusivity label that overlaps the Non-Compete clause only in part."""
    clauses = CLAUSES + [("License Grant", LICENSE), ("Non-Compete", NON_COMPETE)]
    view = contract(doc_id, split, clauses=clauses)
    lic = next(a for a in view.annotations if a.clause_type == "License Grant")
    nc = next(a for a in view.annotations if a.clause_type == "Non-Compete")
    extra = [ClauseAnnotation(clause_type="Non-Transferable License", start=lic.start, end=lic.end, text=lic.text),
             ClauseAnnotation(clause_type="Exclusivity", start=nc.start + 10, end=nc.end, text="x")]
    return contract(doc_id, split, clauses=clauses, extra=extra)


def build(views, seed=0, build_types=(), **options):
    builder = get_builder("clause_questions")()
    ctx = BuildContext(seed=seed, clause_types=list(build_types), options=ClauseQuestionsOptions(**options))
    return [r for v in views for r in builder.document_rows(v, ctx)], ctx


def test_yes_rows_are_the_category_and_no_rows_never_carry_its_label():
    view = licensed_contract()
    rows, _ = build([view])
    assert rows
    for r in rows:
        asked = r.meta["clause_type"]
        assert r.task == "clause_question" and r.choices == ["Yes", "No"] and r.label == r.answer
        assert r.messages[1]["content"] == prompts.clause_question_prompt(
            view.text(r.span.start, r.span.end).strip(), cuad_categories.BY_NAME[asked].question)
        labelled = [a for a in view.annotations if a.clause_type == asked
                    and a.start < r.span.end and r.span.start < a.end]
        if r.answer == "Yes":
            assert r.meta["source"] == "positive" and labelled
        else:
            assert not labelled, f"{asked} asked of a clause labelled {asked}"
    # The clause labelled License Grant and Non-Transferable License is never a 'No' for either.
    lic = next(a for a in view.annotations if a.clause_type == "License Grant")
    for r in rows:
        if r.span.start == lic.start and r.meta["clause_type"] in ("License Grant", "Non-Transferable License"):
            assert r.answer == "Yes"


def test_hard_negatives_are_other_labelled_clauses_of_the_same_contract():
    views = [licensed_contract("a"), contract("b")]
    rows, _ = build(views, hard_negative_share=1.0)
    hard = [r for r in rows if r.meta["source"] == "hard"]
    assert hard
    by_doc = {v.id: v for v in views}
    for r in hard:
        doc = by_doc[r.document_id]
        spans = {(a.start, a.end): a.clause_type for a in doc.annotations}
        assert (r.span.start, r.span.end) in spans  # a labelled clause of the row's own contract
        assert spans[(r.span.start, r.span.end)] != r.meta["clause_type"]


def test_random_negatives_are_unlabelled_passages():
    view = licensed_contract()
    rows, _ = build([view], hard_negative_share=0.0)
    rand = [r for r in rows if r.meta["source"] == "random"]
    assert rand
    for r in rand:
        assert not any(a.start < r.span.end and r.span.start < a.end for a in view.annotations)
        assert len(view.text(r.span.start, r.span.end).strip()) >= 20


@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_yes_no_balance(ratio):
    views = [licensed_contract(f"d{i}") for i in range(3)]
    rows, _ = build(views, negatives_per_positive=ratio)
    counts = Counter(r.answer for r in rows)
    assert counts["No"] == ratio * counts["Yes"]
    per_type = Counter((r.meta["clause_type"], r.answer) for r in rows)
    for t in {r.meta["clause_type"] for r in rows}:
        assert per_type[(t, "No")] == ratio * per_type[(t, "Yes")]


def test_parties_and_document_name_are_never_asked_and_selection_applies():
    view = contract(extra=[ClauseAnnotation(clause_type="Parties", start=26, end=69, text="x")])
    rows, _ = build([view])
    assert "Parties" not in {r.meta["clause_type"] for r in rows}
    rows, _ = build([view], clause_types=["Insurance"])
    assert {r.meta["clause_type"] for r in rows} == {"Insurance"}


def test_a_firms_own_labels_are_skipped_with_one_warning():
    rows, ctx = build([contract("a"), contract("b")], build_types=["Insurance", "Data Protection"])
    assert {r.meta["clause_type"] for r in rows} == {"Insurance"}
    assert len([w for w in ctx.warnings if "Data Protection" in w]) == 1


def test_no_raw_names_and_deterministic():
    views = [licensed_contract(f"d{i}") for i in range(2)]
    a, _ = build(views, seed=3)
    b, _ = build(views, seed=3)
    c, _ = build(views, seed=4)
    assert [r.model_dump() for r in a] == [r.model_dump() for r in b] != [r.model_dump() for r in c]
    assert len({r.id for r in a}) == len(a)
    for r in a:
        assert not any(name in json.dumps(r.model_dump()) for name in NAMES)
