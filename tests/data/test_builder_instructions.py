"""The "instructions" builder on hand-built documents: forms, counts, redaction, teacher, vault rule."""

from __future__ import annotations

import json
import re

import pytest

from lextune.core.errors import DatasetError
from lextune.core.records import Chunk, ClauseAnnotation, DefinedTerm, Document, Redaction
from lextune.data.builders.base import BuildContext, DocView, get_builder
from lextune.data.builders.instructions import SELF_TASKS, InstructionOptions, InstructionsBuilder
from lextune.data.instruction_prompts import BLANK, TEACHER_SYSTEM
from lextune.data.teacher import Teacher, TeacherConfig

NAMES = {
    "Acme Widgets Inc.": ("PARTY", "[PARTY_1]"),
    "Globex LLC": ("PARTY", "[PARTY_2]"),
    "John Smith": ("PERSON", "[PERSON_1]"),
}
CLAUSE_TYPES = ["Governing Law", "Insurance", "Audit Rights"]

CONTRACT = [
    (
        "preamble",
        None,
        (
            'This SERVICES AGREEMENT is made on 1 May 2023 between Acme Widgets Inc. ("Client") '
            'and Globex LLC ("Provider").'
        ),
    ),
    (
        "recital",
        "RECITALS",
        (
            "WHEREAS, Client wishes to obtain consulting services from a qualified firm. "
            "WHEREAS, Provider has the expertise to provide such services on the terms below."
        ),
    ),
    (
        "definition",
        "1. Definitions",
        (
            '"Services" means the consulting services that Globex LLC provides to Client under this '
            "Agreement. "
            '"Deliverables" means all reports, software and documents that Provider delivers to Client. '
            '"Confidential Information" means any non-public information disclosed by one party to the other.'
        ),
    ),
    (
        "body",
        "2. Services",
        (
            "Provider shall perform the Services with reasonable skill and care. Provider "
            "shall assign qualified personnel, led by John Smith, to the engagement."
        ),
    ),
    (
        "body",
        "3. Fees and Payment",
        (
            "Client shall pay the fees set out in Schedule A within thirty days of "
            "invoice. Late payments bear interest at one percent per month."
        ),
    ),
    (
        "body",
        "4. Term",
        (
            "This Agreement begins on the Effective Date and continues for two years. It renews "
            "automatically for one-year periods unless either party gives ninety days notice."
        ),
    ),
    (
        "body",
        "5. Termination",
        (
            "Either party may terminate this Agreement for material breach not cured within "
            "thirty days. Client may terminate for convenience on sixty days written notice."
        ),
    ),
    (
        "body",
        "6. Confidentiality",
        (
            "Each party shall keep the Confidential Information of the other secret. "
            "This duty survives termination of this Agreement for five years."
        ),
    ),
    (
        "body",
        "7. Intellectual Property",
        (
            "All Deliverables become the property of Client on full payment. "
            "Provider keeps its pre-existing tools and methods."
        ),
    ),
    (
        "body",
        "8. Warranties",
        (
            "Provider warrants that the Services will conform to the agreed specification. "
            "All other warranties, express or implied, are excluded."
        ),
    ),
    (
        "body",
        "9. Obligations of Globex LLC",
        (
            "Globex LLC shall comply with Client's security policies at all "
            "times. Globex LLC shall report any incident within one day."
        ),
    ),
    (
        "body",
        "10. Limitation of Liability",
        (
            "Neither party is liable for indirect or consequential loss. Each "
            "party's total liability is capped at the fees paid in one year."
        ),
    ),
    (
        "body",
        "11. Insurance",
        (
            "Provider shall maintain professional indemnity insurance of at least two million "
            "dollars. Provider shall show proof of cover on request."
        ),
    ),
    (
        "body",
        "12. Governing Law",
        (
            "This Agreement is governed by the laws of the State of New York. The courts "
            "of New York County have exclusive jurisdiction over any dispute."
        ),
    ),
    (
        "body",
        "13. Notices",
        (
            "Notices to Acme Widgets Inc. go to John Smith at the registered office. Notices "
            "must be in writing and are effective on receipt."
        ),
    ),
    (
        "body",
        "14. Entire Agreement",
        (
            "This Agreement is the entire agreement between the parties. It supersedes "
            "all earlier proposals and understandings."
        ),
    ),
    (
        "signature",
        None,
        ("IN WITNESS WHEREOF the parties have signed this Agreement.\nAcme Widgets Inc.\nBy: John Smith"),
    ),
]
ANNOTATIONS = [
    ("Governing Law", "This Agreement is governed by the laws of the State of New York."),
    ("Insurance", "Provider shall maintain professional indemnity insurance"),
]


def make_view(
    sections,
    *,
    doc_id="doc-1",
    title="Services Agreement between Acme Widgets Inc. and Globex LLC",
    metadata=None,
    names=NAMES,
    annotations=(),
    dup_headings=(),
    split="train",
) -> DocView:
    """A DocView from (kind, heading or None, body) sections; one chunk per section, redactions of `names`."""
    parts, spans, pos = [], [], 0
    for kind, heading, body in sections:
        piece = f"{heading}\n{body}" if heading else body
        spans.append((pos, pos + len(piece), kind, heading))
        parts.append(piece)
        pos += len(piece) + 2
    text = "\n\n".join(parts)
    chunks = [
        Chunk(
            id=f"{doc_id}-c{i}",
            document_id=doc_id,
            index=i,
            start=s,
            end=e,
            section=h or "",
            text=text[s:e],
            heading_path=[h] if h else [],
            kind=k,
            dup_of="other-chunk" if h in dup_headings else None,
        )
        for i, (s, e, k, h) in enumerate(spans)
    ]
    redactions = [
        Redaction(start=m.start(), end=m.end(), entity_type=etype, original=name, replacement=rep)
        for name, (etype, rep) in names.items()
        for m in re.finditer(re.escape(name), text)
    ]
    terms = [
        DefinedTerm(
            term=m.group(1),
            start=m.start(1),
            end=m.end(1),
            definition_start=m.start(),
            definition_end=text.index(".", m.end()) + 1,
        )
        for m in re.finditer(r'"([A-Z][\w ]+)" means', text)
    ]
    anns = [
        ClauseAnnotation(clause_type=t, start=text.index(q), end=text.index(q) + len(q), text=q)
        for t, q in annotations
    ]
    doc = Document(
        id=doc_id,
        title=title,
        format="txt",
        source_path=f"/x/{doc_id}.txt",
        sha256="0" * 64,
        n_chars=len(text),
        metadata=metadata
        if metadata is not None
        else {"document_type": "services agreement", "client": "acme"},
    )
    return DocView(doc, split, text, chunks, anns, terms, redactions)


def ctx_for(seed=0, teacher=None, warnings=None, **opts) -> BuildContext:
    return BuildContext(
        seed=seed,
        clause_types=CLAUSE_TYPES,
        options=InstructionOptions(**opts),
        teacher=teacher,
        warnings=warnings if warnings is not None else [],
    )


def build(view, ctx):
    b = InstructionsBuilder()
    rows = list(b.document_rows(view, ctx))
    return b, rows


def test_registered_under_its_name():
    assert get_builder("instructions") is InstructionsBuilder


def test_about_three_rows_per_usable_chunk_and_forms_are_right():
    view = make_view(CONTRACT, annotations=ANNOTATIONS, dup_headings=("14. Entire Agreement",))
    usable = InstructionsBuilder.count_usable(view.chunks, InstructionOptions())
    assert usable == 14  # 12 body + recital + definitions; not preamble, signature or the duplicate
    _, rows = build(view, ctx_for(tasks=list(SELF_TASKS)))
    per_chunk: dict[str, int] = {}
    for r in rows:
        per_chunk[r.chunk_ids[0]] = per_chunk.get(r.chunk_ids[0], 0) + 1
        assert r.builder == "instructions" and r.split == "train" and r.document_id == "doc-1"
        assert r.messages[-1]["content"] == r.answer and r.meta["form"] == "self"
        assert r.meta["client"] == "acme" and "teacher" not in r.meta
    assert max(per_chunk.values()) <= 3
    assert 2.5 * usable <= len(rows) <= 3 * usable
    by_id = {c.id: c for c in view.chunks}
    assert not {by_id[c].kind for c in per_chunk} & {"preamble", "signature"}
    assert "doc-1-c15" not in per_chunk  # the duplicate chunk
    tasks = {r.task for r in rows}
    assert tasks == {
        "heading_to_body",
        "body_to_heading",
        "define_term",
        "fill_masked_span",
        "clause_type_of",
    }
    for r in rows:
        chunk = by_id[r.chunk_ids[0]]
        user = r.messages[1]["content"]
        if r.task == "fill_masked_span":
            assert BLANK in user and r.answer in chunk.text and r.answer not in user
        elif r.task == "body_to_heading":
            assert chunk.text.startswith(re.match(r"[\d.]*\s*", chunk.text).group(0) + r.answer)
        elif r.task == "heading_to_body":
            assert chunk.text.endswith(r.answer) and chunk.text.split("\n")[0] in user
        elif r.task == "define_term":
            term = re.search(r'what does "(.+)" mean', user).group(1)
            assert r.answer.startswith(f'"{term}" means') and r.span.start < r.span.end
        elif r.task == "clause_type_of":
            assert (
                r.label == r.answer
                and r.answer in ("Governing Law", "Insurance")
                and r.choices == CLAUSE_TYPES
            )


def test_no_original_name_reaches_any_row():
    view = make_view(CONTRACT, annotations=ANNOTATIONS)
    _, rows = build(view, ctx_for(rows_per_chunk=8))
    dump = json.dumps([r.model_dump(mode="json") for r in rows])
    for name in ("Acme", "Globex", "John Smith", "Smith"):
        assert name not in dump
    assert "[PARTY_2]" in dump and "[PERSON_1]" in dump  # the placeholders did reach the rows


def test_deterministic_given_seed():
    view = make_view(CONTRACT, annotations=ANNOTATIONS)
    dump = lambda rows: [r.model_dump_json() for r in rows]
    first = dump(build(view, ctx_for(seed=3))[1])
    assert first == dump(build(make_view(CONTRACT, annotations=ANNOTATIONS), ctx_for(seed=3))[1])
    assert first != dump(build(view, ctx_for(seed=4))[1])
    assert len({json.loads(r)["id"] for r in first}) == len(first)  # row ids are unique


def test_options_select_tasks_and_rows_per_chunk():
    view = make_view(CONTRACT)
    _, rows = build(view, ctx_for(tasks=["fill_masked_span"], rows_per_chunk=1))
    assert {r.task for r in rows} == {"fill_masked_span"} and len(rows) == 15  # no duplicate here
    _, short = build(view, ctx_for(heading_to_body_max_chars=100, tasks=["heading_to_body"]))
    assert short == []  # every section is longer than that: the model is never asked to draft it
    with pytest.raises(ValueError):
        InstructionOptions(tasks=["translate"])


def test_teacher_tasks_without_teacher_warn_when_asked_for():
    warnings: list[str] = []
    _, rows = build(make_view(CONTRACT), ctx_for(warnings=warnings, tasks=["summarize", "fill_masked_span"]))
    assert {r.task for r in rows} == {"fill_masked_span"}
    assert any("need a teacher" in w for w in warnings)


# --- the vault-size rule -------------------------------------------------------------------------------


def test_check_vault_refuses_under_10_and_warns_under_300():
    ctx = ctx_for()
    with pytest.raises(DatasetError, match="9 usable chunks.*fewer than 10"):
        InstructionsBuilder.check_vault(9, ctx)
    InstructionsBuilder.check_vault(10, ctx)
    InstructionsBuilder.check_vault(299, ctx)
    assert len(ctx.warnings) == 1 and "overfit" in ctx.warnings[0] and "retrieval" in ctx.warnings[0]
    quiet = ctx_for()
    InstructionsBuilder.check_vault(300, quiet)
    assert quiet.warnings == []
    already = ctx_for(warnings=["only 50 usable chunks: tuning will overfit"])
    InstructionsBuilder.check_vault(50, already)
    assert len(already.warnings) == 1  # the orchestrator said it already


def test_corpus_rows_enforces_the_rule_over_every_document_seen():
    ctx = ctx_for()
    b = InstructionsBuilder()
    small = make_view(CONTRACT[:5], doc_id="small")  # recital, definitions, 2 bodies: 4 usable
    list(b.document_rows(small, ctx))
    with pytest.raises(DatasetError, match="4 usable chunks"):
        list(b.corpus_rows(ctx, {"train": 10}))
    list(b.document_rows(make_view(CONTRACT, doc_id="big"), ctx))  # 4 + 15 chunks in all
    assert list(b.corpus_rows(ctx, {"train": 10})) == []
    assert any("only 19 usable chunks" in w for w in ctx.warnings)
    assert b.describe() == {"usable_chunks": 19, "teacher_answers_dropped": {}}


# --- with a teacher -------------------------------------------------------------------------------------


def _teacher_answer(body: dict) -> str:
    user = body["messages"][-1]["content"]
    if user.startswith("Summarize"):
        return "The section sets out what each party must do."
    if "Quote every" in user:
        passage = user.split(":\n", 1)[1].split("\n\nQuote every")[0]
        return passage.strip().split("\n")[-1].split(". ")[0] + "."  # the body's first sentence, verbatim
    if user.startswith("Rewrite"):
        return "The parties must do this. Short sentences only."
    raise AssertionError(user)


def _teacher(url: str) -> Teacher:
    return Teacher(TeacherConfig(base_url=url, model="fake-teacher", backoff=0))


def test_teacher_forms_against_fake_server():
    from test_teacher import fake_openai_server

    style = "Use short sentences. Say 'must' for obligations."
    view = make_view(CONTRACT, annotations=ANNOTATIONS)
    with fake_openai_server(_teacher_answer) as (srv, url), _teacher(url) as teacher:
        _, rows = build(view, ctx_for(teacher=teacher, house_style=style))
        n_sent = len(srv.requests)
        _, again = build(view, ctx_for(teacher=teacher, house_style=style))
    assert n_sent > 0 and len(srv.requests) == n_sent  # a rebuild is answered from the cache
    assert [r.model_dump_json() for r in again] == [r.model_dump_json() for r in rows]
    by_chunk: dict[str, set[str]] = {}
    for r in rows:
        by_chunk.setdefault(r.chunk_ids[0], set()).add(r.task)
    body_ids = [c.id for c in view.chunks if c.kind == "body"]
    # Teacher forms come first: each body chunk gets the three of them.
    assert all(by_chunk[c] == {"summarize", "extract_clauses", "rewrite_house_style"} for c in body_ids)
    teacher_rows = [r for r in rows if r.meta["form"] == "teacher"]
    assert teacher_rows and all(r.meta["teacher"] == "fake-teacher" for r in teacher_rows)
    for r in rows:
        if r.task == "extract_clauses":
            assert r.answer in view.text() and r.label is not None
        if r.task == "rewrite_house_style":
            assert "House style" not in r.messages[1]["content"]  # the tuned model learns the style itself
    sent = [req["body"] for req in srv.requests]
    assert all(b["messages"][0]["content"] == TEACHER_SYSTEM for b in sent)
    assert any(style in b["messages"][-1]["content"] for b in sent)
    dump = json.dumps(sent) + json.dumps([r.model_dump(mode="json") for r in rows])
    assert not any(n in dump for n in ("Acme", "Globex", "John Smith"))  # nothing unmasked left the machine


def test_teacher_answers_that_do_not_quote_are_dropped():
    from test_teacher import fake_openai_server

    def answer(body: dict) -> str:
        return "An invented clause." if "Quote every" in body["messages"][-1]["content"] else "fine"

    ctx = ctx_for(tasks=["extract_clauses"])
    b = InstructionsBuilder()
    with fake_openai_server(answer) as (_srv, url), _teacher(url) as teacher:
        ctx.teacher = teacher
        rows = list(b.document_rows(make_view(CONTRACT), ctx))
        list(b.corpus_rows(ctx, {"train": 1}))
    assert rows == []
    assert any("not quoted verbatim" in w for w in ctx.warnings)


def test_not_found_answers_are_normalised():
    from test_teacher import fake_openai_server

    with fake_openai_server(lambda body: "not found.") as (_srv, url), _teacher(url) as teacher:
        _, rows = build(make_view(CONTRACT), ctx_for(teacher=teacher, tasks=["extract_clauses"]))
    assert rows and {r.answer for r in rows} == {"Not found"}


def test_teacher_auth_error_stops_the_build():
    from test_teacher import fake_openai_server

    script = [(401, {"error": {"message": "bad key"}}, {})]
    with (
        fake_openai_server(script=script) as (_srv, url),
        _teacher(url) as teacher,
        pytest.raises(DatasetError, match="401"),
    ):
        build(make_view(CONTRACT), ctx_for(teacher=teacher))


def test_merged_chunk_gets_heading_forms_per_section():
    merged = ("body", "2. Services", CONTRACT[3][2] + "\n\n3. Fees and Payment\n" + CONTRACT[4][2])
    continued = (
        "body",
        None,
        (
            "Either party may also suspend performance while an invoice is overdue by more "
            "than sixty days. Suspension does not end this Agreement."
        ),
    )
    view = make_view([merged, continued] + CONTRACT[5:8])
    view.chunks[0].heading_path = []  # the chunker gives a merged chunk only the headings its sections share
    _, rows = build(view, ctx_for(tasks=["body_to_heading", "heading_to_body"], rows_per_chunk=8))
    first = [r for r in rows if r.chunk_ids == ["doc-1-c0"]]
    assert sorted(r.answer for r in first if r.task == "body_to_heading") == ["Fees and Payment", "Services"]
    drafts = {r.messages[1]["content"]: r.answer for r in first if r.task == "heading_to_body"}
    # Section 3 goes on in the next chunk, so only section 2 is asked for whole.
    assert list(drafts) == [
        ('Draft the section "2. Services" of a services agreement. Answer with the section text only.')
    ]
    assert next(iter(drafts.values())) == CONTRACT[3][2].replace("John Smith", "[PERSON_1]")
