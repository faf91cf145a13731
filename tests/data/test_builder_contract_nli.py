import gzip
import json
import re
from importlib import resources
from pathlib import Path

from test_builder_clauses import make_view

from lextune.core.records import ClauseAnnotation
from lextune.data import prompts
from lextune.data.builders.base import BuildContext, get_builder
from lextune.data.builders.contract_nli import ContractNLIOptions
from lextune.vault.contract_nli import parse_contract_nli

PASSAGE = re.compile(r"^\[(\d+)\]\n", re.MULTILINE)
SENTENCES = [
    "Acme Widgets Inc. shall not reverse engineer, decompile or disassemble any prototype it receives.",
    "Bolt Traders LLC may disclose Confidential Information to its employees who need to know it.",
    "Each party shall keep the terms of this Agreement in strict confidence and disclose them to no one.",
    "On termination the Recipient shall return or destroy all Confidential Information in its possession.",
    "This Agreement is governed by the laws of the State of Delaware without regard to conflicts rules.",
    "Notices shall be in writing and delivered by hand or by registered mail to the addresses above.",
    "The obligations of confidentiality shall survive termination of this Agreement for five years.",
    "Nothing in this Agreement obliges either party to enter into any further agreement or transaction.",
]


def nda(doc_id="nda-doc", split="train"):
    """An NDA of one sentence per paragraph; nda-11 entailed by sentence 0, nda-5 contradicted by 1 and
    6, nda-19 entailed by 6 as well, nda-18 not mentioned; one CUAD label that the builder must ignore."""
    text = "\n\n".join(SENTENCES)
    spans = [(text.index(s), text.index(s) + len(s)) for s in SENTENCES]

    def nli(key, label, idx, hypothesis):
        ev = [list(spans[i]) for i in idx]
        s, e = ev[0] if ev else (0, 0)
        return ClauseAnnotation(clause_type=key, start=s, end=e, text=text[s:e], kind="nli", label=label,
                                extra={"hypothesis": hypothesis, "spans": ev})

    annotations = [
        nli("nda-11", "Entailment", [0], "Receiving Party shall not reverse engineer any objects."),
        nli("nda-5", "Contradiction", [1, 6], "Receiving Party may not share information with employees."),
        nli("nda-19", "Entailment", [6], "Some obligations may survive termination."),
        nli("nda-18", "NotMentioned", [], "Receiving Party shall not solicit representatives."),
        ClauseAnnotation(clause_type="Governing Law", start=spans[4][0], end=spans[4][1], text=SENTENCES[4]),
    ]
    return make_view(doc_id, text, annotations, split)


def build(views, seed=0, **options):
    builder = get_builder("contract_nli")()
    ctx = BuildContext(seed=seed, clause_types=[], options=ContractNLIOptions(**options))
    return [r for v in views for r in builder.document_rows(v, ctx)]


def passages_of(prompt: str) -> dict[int, str]:
    body = prompt.split("Passages from a contract:\n\n", 1)[1].split("\n\nHypothesis: ", 1)[0]
    parts = PASSAGE.split(body)
    return {int(n): text.strip() for n, text in zip(parts[1::2], parts[2::2])}


def test_labels_and_citations_point_at_the_evidence():
    view = nda()
    rows = {r.meta["hypothesis_key"]: r for r in build([view], passages=4)}
    assert set(rows) == {"nda-11", "nda-5", "nda-19", "nda-18"}
    for key, r in rows.items():
        a = next(a for a in view.annotations if a.clause_type == key)
        shown = passages_of(r.messages[1]["content"])
        assert r.task == "nli_evidence" and r.label == a.label and r.choices == prompts.NLI_LABELS
        assert f"Hypothesis: {a.extra['hypothesis']}\n" in r.messages[1]["content"]
        evidence = {view.text(s, e) for s, e in a.extra["spans"]}
        gold = r.meta["gold_citations"]
        assert {shown[n] for n in gold} == evidence
        assert not evidence & {t for n, t in shown.items() if n not in gold}
        assert len(shown) >= max(4, len(evidence) + 2)
        assert r.answer == prompts.nli_answer(a.label, gold)
        for p in r.meta["passages"]:
            assert view.text(p["start"], p["end"]).strip() == shown[p["n"]]
        assert set(r.chunk_ids) == {c for p in r.meta["passages"] for c in p["chunk_ids"]}
    assert re.fullmatch(r"Contradiction \[\d\]\[\d\]", rows["nda-5"].answer)
    assert rows["nda-18"].answer == "NotMentioned. Not found in the passages." and rows["nda-18"].meta[
        "gold_citations"] == []


def test_no_raw_names_deterministic_and_filters():
    views = [nda("a"), nda("b", split="dev")]
    a, b, c = build(views, seed=1), build(views, seed=1), build(views, seed=2)
    assert [r.model_dump() for r in a] == [r.model_dump() for r in b] != [r.model_dump() for r in c]
    assert len({r.id for r in a}) == len(a) and {r.split for r in a} == {"train", "dev"}
    for r in a:
        dumped = json.dumps(r.model_dump())
        assert "Acme" not in dumped and "Bolt" not in dumped
        assert r.chunk_ids and all(cid.startswith(r.document_id) for cid in r.chunk_ids)
    only = build(views, hypotheses=["nda-11"], not_mentioned=False)
    assert {r.meta["hypothesis_key"] for r in only} == {"nda-11"}
    assert "NotMentioned" not in {r.label for r in build(views, not_mentioned=False)}


def test_rows_from_a_parsed_contract_nli_file():
    with gzip.open(resources.files("lextune") / "demo_data" / "contract_nli_sample.json.gz", "rt") as f:
        raw = json.load(f)
    loaded = parse_contract_nli(Path("sample.json"), raw).documents[:2]
    views = [make_view(f"n{i}", d.text, d.annotations) for i, d in enumerate(loaded)]
    rows = build(views)
    assert len(rows) >= 30
    for r in rows:
        view = views[int(r.document_id[1:])]
        shown = passages_of(r.messages[1]["content"])
        a = next(a for a in view.annotations if a.clause_type == r.meta["hypothesis_key"])
        gold = [shown[n] for n in r.meta["gold_citations"]]
        assert len(gold) == len(set(gold)) and (a.label == "NotMentioned") == (not gold)
        for s, e in a.extra["spans"]:  # every evidence span is inside a cited passage
            assert any(view.text(s, e).strip() in g for g in gold)
