import gzip
import json
import re
from importlib import resources

import pytest
from pydantic import ValidationError

from lextune.core.errors import DatasetError
from lextune.core.records import Chunk, ClauseAnnotation, Document, Redaction
from lextune.data import cuad_categories, prompts
from lextune.data.builders.base import BuildContext, DocView, get_builder
from lextune.data.builders.clauses import ClausesOptions
from lextune.vault.cuad import parse_squad_json

CUAD_41 = [
    "Document Name", "Parties", "Agreement Date", "Effective Date", "Expiration Date", "Renewal Term",
    "Notice Period to Terminate Renewal", "Governing Law", "Most Favored Nation",
    "Competitive Restriction Exception", "Non-Compete", "Exclusivity", "No-Solicit of Customers",
    "No-Solicit of Employees", "Non-Disparagement", "Termination for Convenience", "Rofr/Rofo/Rofn",
    "Change of Control", "Anti-Assignment", "Revenue/Profit Sharing", "Price Restrictions",
    "Minimum Commitment", "Volume Restriction", "IP Ownership Assignment", "Joint IP Ownership",
    "License Grant", "Non-Transferable License", "Affiliate License-Licensor",
    "Affiliate License-Licensee", "Unlimited/All-You-Can-Eat-License", "Irrevocable or Perpetual License",
    "Source Code Escrow", "Post-Termination Services", "Audit Rights", "Uncapped Liability",
    "Cap on Liability", "Liquidated Damages", "Warranty Duration", "Insurance", "Covenant Not to Sue",
    "Third Party Beneficiary",
]

FILLER = (
    "The parties shall cooperate in good faith to carry out the purposes of this Agreement and shall "
    "execute such further documents as may reasonably be required. Headings are for convenience only and "
    "do not affect interpretation. Section {n} applies to all deliveries made under any purchase order."
)
CLAUSES = [
    ("Governing Law", "This Agreement shall be governed by the laws of the State of New York."),
    ("Audit Rights", "Acme Widgets Inc. may audit the books and records of Bolt Traders LLC once a year."),
    ("Audit Rights", "Bolt Traders LLC shall give the auditors access to its premises during business hours."),
    ("Cap on Liability", "Neither party's aggregate liability shall exceed the fees paid in the prior year."),
    ("Insurance", "Bolt Traders LLC shall maintain general liability insurance of two million dollars."),
    ("Anti-Assignment", "Neither party may assign this Agreement without the other party's written consent."),
]
NAMES = ("Acme Widgets Inc.", "Bolt Traders LLC")


def contract(doc_id: str = "doc-1", split: str = "train", clauses=CLAUSES, gap: int = 3,
             extra: list[ClauseAnnotation] = ()) -> DocView:
    """A contract of filler paragraphs with `clauses` spread through it; the two audit clauses adjacent.
    Party names are redacted, and chunks are paragraphs."""
    parts: list[str] = ["DISTRIBUTION AGREEMENT between Acme Widgets Inc. and Bolt Traders LLC."]
    annotations = []
    pos = len(parts[0]) + 2
    for i, (clause_type, clause) in enumerate(clauses):
        adjacent = i > 0 and clause_type == clauses[i - 1][0]
        for n in range(0 if adjacent else gap):
            parts.append(FILLER.format(n=f"{i}.{n}"))
            pos += len(parts[-1]) + 2
        parts.append(f"{i + 1}. {clause}")
        start = pos + len(f"{i + 1}. ")
        annotations.append(ClauseAnnotation(clause_type=clause_type, start=start, end=start + len(clause),
                                            text=clause))
        pos += len(parts[-1]) + 2
    parts += [FILLER.format(n="end")] * gap
    text = "\n\n".join(parts)
    for a in annotations:
        assert text[a.start:a.end] == a.text
    return make_view(doc_id, text, annotations + list(extra), split)


def make_view(doc_id: str, text: str, annotations: list[ClauseAnnotation], split: str = "train") -> DocView:
    chunks, pos = [], 0
    for i, para in enumerate(text.split("\n\n")):
        start = text.index(para, pos)
        chunks.append(Chunk(id=f"{doc_id}-c{i}", document_id=doc_id, index=i, start=start,
                            end=start + len(para), section="", text=para))
        pos = start + len(para)
    redactions = []
    for tag, name in enumerate(NAMES, start=1):
        redactions += [Redaction(start=m.start(), end=m.end(), entity_type="PARTY", original=name,
                                 replacement=f"[PARTY_{tag}]") for m in re.finditer(re.escape(name), text)]
    document = Document(id=doc_id, title=doc_id, format="txt", source_path=f"{doc_id}.txt", sha256="0" * 64,
                        n_chars=len(text), metadata={"client": "c1"})
    return DocView(document, split, text, chunks, annotations, [], redactions)


def build(views, seed=0, build_types=(), **options):
    builder = get_builder("clauses")()
    ctx = BuildContext(seed=seed, clause_types=list(build_types), options=ClausesOptions(**options))
    rows = [r for v in views for r in builder.document_rows(v, ctx)]
    builder.corpus_rows(ctx, {})
    return rows, builder, ctx


def test_all_41_cuad_categories_with_questions():
    assert cuad_categories.NAMES == CUAD_41
    for c in cuad_categories.CATEGORIES:
        assert c.question.startswith("Does this clause ") and c.question.endswith("?")
        assert c.ask.endswith("?") and c.description and c.lead
    assert {c.name for c in cuad_categories.CATEGORIES if not c.absence_reliable} == {"Document Name", "Parties"}


def test_unknown_category_is_an_error_with_a_hint():
    with pytest.raises(DatasetError, match="did you mean 'Governing Law'"):
        cuad_categories.resolve(["Governing Lawz"])
    with pytest.raises(ValidationError, match="unknown CUAD clause type"):
        ClausesOptions(clause_types=["Audit Rights", "Warp Drive"])
    assert ClausesOptions(clause_types=["audit rights"]).clause_types == ["Audit Rights"]
    assert cuad_categories.resolve(None) == CUAD_41


def test_quote_answers_every_clause_of_the_type_in_the_excerpt_in_order():
    rows, _, _ = build([contract()], excerpt_chars=400)
    audit = [r for r in rows if r.task == "clause_quote" and r.label == "Audit Rights"
             and r.answer != prompts.NOT_FOUND]
    assert audit
    first = "[PARTY_1] may audit the books and records of [PARTY_2] once a year."
    second = "[PARTY_2] shall give the auditors access to its premises during business hours."
    for r in audit:
        assert r.answer == f"{first}\n{second}"
        excerpt = r.messages[1]["content"]
        assert excerpt.index(first) < excerpt.index(second)


def test_excerpts_never_cut_a_clause_and_not_found_excerpts_hold_none():
    views = [contract(f"d{i}") for i in range(4)]
    rows, _, _ = build(views, excerpt_chars=300)
    by_doc = {v.id: v for v in views}
    quotes = [r for r in rows if r.task == "clause_quote"]
    assert any(r.answer == prompts.NOT_FOUND for r in quotes) and any(r.answer != prompts.NOT_FOUND for r in quotes)
    for r in quotes:
        doc = by_doc[r.document_id]
        same = [a for a in doc.annotations if a.clause_type == r.label and a.start < r.span.end and r.span.start < a.end]
        if r.answer == prompts.NOT_FOUND:
            assert not same
        else:
            assert same and all(r.span.start <= a.start and a.end <= r.span.end for a in same)
            assert all(line in r.messages[1]["content"] for line in r.answer.split("\n"))
        assert r.chunk_ids and r.builder == "clauses" and r.meta == {"client": "c1"}


@pytest.mark.parametrize("share", [0.25, 0.5])
def test_not_found_share_is_met_per_split_and_reported(share):
    views = [contract(f"d{i}", split="train" if i % 3 else "dev") for i in range(12)]
    rows, builder, _ = build(views, not_found_share=share)
    report = builder.describe()["not_found_share"]
    assert report["target"] == share
    for split in ("train", "dev"):
        quotes = [r for r in rows if r.task == "clause_quote" and r.split == split]
        nf = sum(r.answer == prompts.NOT_FOUND for r in quotes)
        assert abs(nf / len(quotes) - share) <= 1 / len(quotes)
        assert report["splits"][split] == {"rows": len(quotes), "count": nf, "share": round(nf / len(quotes), 4)}


def short_contract():
    """One clause and nothing else: too short for an excerpt without it."""
    clause = CLAUSES[0][1]
    return make_view("s", "1. " + clause, [ClauseAnnotation(clause_type="Governing Law", start=3,
                     end=3 + len(clause), text=clause)])


def test_shortfall_is_warned_when_documents_are_too_short():
    rows, _, ctx = build([short_contract()], not_found_share=0.5, excerpt_chars=600)
    assert [r.task for r in rows] == ["clause_type", "clause_quote"]
    assert any("fewer than the share" in w for w in ctx.warnings)


def test_clause_type_rows_and_selection():
    view = contract()
    rows, _, _ = build([view], build_types=["Governing Law", "Insurance"])
    typing = [r for r in rows if r.task == "clause_type"]
    assert {r.label for r in typing} == {"Governing Law", "Insurance"}
    for r in typing:
        assert r.choices == ["Governing Law", "Insurance"] and r.answer == r.label
        passage = view.text(r.span.start, r.span.end)
        assert r.messages[1]["content"] == prompts.clause_type_prompt(passage, ["Governing Law", "Insurance"])
    assert {r.label for r in rows} <= {"Governing Law", "Insurance"}
    # The builder's own choice overrides the build's, and all 41 are the default.
    rows, _, _ = build([contract()], build_types=["Insurance"], clause_types=["Governing Law"])
    assert {r.label for r in rows} == {"Governing Law"}
    rows, _, _ = build([contract()])
    assert next(r for r in rows if r.task == "clause_type").choices == CUAD_41


def test_no_raw_names_when_redactions_exist_and_nli_labels_ignored():
    nli = ClauseAnnotation(clause_type="nda-11", start=0, end=20, text="x", kind="nli", label="Entailment")
    rows, _, _ = build([contract(extra=[nli])])
    assert rows and "nda-11" not in {r.label for r in rows}
    for r in rows:
        dumped = json.dumps(r.model_dump())
        assert not any(name in dumped for name in NAMES)


def test_documents_without_clause_labels_get_no_not_found_rows():
    # A ContractNLI NDA (only "nli" labels) after a contract that left the split short of 'Not found' rows.
    nli = ClauseAnnotation(clause_type="nda-11", start=0, end=20, text="x", kind="nli", label="Entailment")
    nda = make_view("nda", "\n\n".join([FILLER.format(n=i) for i in range(8)]), [nli])
    rows, _, ctx = build([short_contract(), nda], not_found_share=0.5)
    assert rows and not [r for r in rows if r.document_id == "nda"]
    assert any("fewer than the share" in w for w in ctx.warnings)


def test_rows_are_deterministic_given_the_seed():
    views = [contract(f"d{i}") for i in range(3)]
    a, _, _ = build(views, seed=1)
    b, _, _ = build(views, seed=1)
    c, _, _ = build(views, seed=2)
    assert [r.model_dump() for r in a] == [r.model_dump() for r in b]
    assert [r.model_dump() for r in a] != [r.model_dump() for r in c]
    assert len({r.id for r in a}) == len(a)


def sample_squad() -> dict:
    # The bundled CUAD sample, read directly (conftest's helper imports the demo and with it the whole vault).
    with gzip.open(resources.files("lextune") / "demo_data" / "cuad_sample.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def test_a_real_cuad_contract(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"data": sample_squad()["data"][:1]}))
    loaded = parse_squad_json(path, path.read_text()).documents[0]
    view = make_view("real", loaded.text, loaded.annotations)
    rows, _, _ = build([view])
    assert {r.task for r in rows} == {"clause_type", "clause_quote"}
    for r in rows:
        if r.task == "clause_quote" and r.answer != prompts.NOT_FOUND:
            inside = [a for a in view.annotations if a.clause_type == r.label
                      and a.start < r.span.end and r.span.start < a.end]
            assert all(r.span.start <= a.start and a.end <= r.span.end for a in inside)
            assert all(line in r.messages[1]["content"] for line in r.answer.split("\n"))
