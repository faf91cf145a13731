"""The "statute_qa" builder: provisions -> cited questions and answers, tagged with the jurisdiction."""

from __future__ import annotations

import json

import pytest
from test_builder_instructions import CONTRACT, make_view
from test_teacher import fake_openai_server

from lextune.core.errors import DatasetError
from lextune.data.builders.base import BuildContext, get_builder
from lextune.data.builders.statute_qa import StatuteQABuilder, StatuteQAOptions, provision_ref
from lextune.data.teacher import Teacher, TeacherConfig

TITLE = "Data Protection Act 2018"
STATUTE = [
    (
        "preamble",
        None,
        (
            f"{TITLE}\nAn Act to make provision for the regulation of the processing of information "
            "relating to individuals. Signed by the Minister, Jane Doe."
        ),
    ),
    (
        "body",
        "Article 1 Scope",
        (
            "This Act applies to the processing of personal data wholly or partly by "
            "automated means. It does not apply to purely personal activities."
        ),
    ),
    (
        "definition",
        "Article 2 Definitions",
        (
            '"Personal data" means any information relating to an '
            "identified or identifiable living individual."
        ),
    ),
    (
        "body",
        "Article 3 Lawful processing",
        (
            "Processing is lawful only if the data subject has consented or "
            "processing is necessary for a contract. The controller must be able "
            "to show which ground applies. Jane Doe shall publish guidance."
        ),
    ),
    (
        "body",
        None,
        (
            "Where processing rests on consent, the data subject may withdraw it at any time. "
            "Withdrawal does not affect processing before it."
        ),
    ),
    (
        "body",
        "§ 4 Penalties",
        (
            "A controller who breaches Article 3 is liable to a fine of up to ten million "
            "pounds. The Commissioner sets the amount."
        ),
    ),
    ("signature", None, "Given under my hand, Jane Doe, Minister."),
]
NAMES = {"Jane Doe": ("PERSON", "[PERSON_1]")}


def statute_view(*, metadata=None, title=TITLE, doc_id="act-1", sections=STATUTE):
    meta = {"document_type": "statute", "jurisdiction": "UK"} if metadata is None else metadata
    view = make_view(sections, doc_id=doc_id, title=title, metadata=meta, names=NAMES)
    # The chunker gives a continuation chunk its section's heading path.
    for prev, chunk in zip(view.chunks, view.chunks[1:], strict=False):
        if not chunk.heading_path and chunk.kind == "body":
            chunk.heading_path = prev.heading_path
    return view


def ctx_for(teacher=None, seed=0, **opts) -> BuildContext:
    return BuildContext(seed=seed, clause_types=[], options=StatuteQAOptions(**opts), teacher=teacher)


def build(view, ctx) -> list:
    b = StatuteQABuilder()
    rows = list(b.document_rows(view, ctx))
    list(b.corpus_rows(ctx, {}))
    return rows


def test_registered():
    assert get_builder("statute_qa") is StatuteQABuilder


@pytest.mark.parametrize(
    "line,expected",
    [
        ("Article 12 Indemnification", ("Article 12", "[Art. 12]")),
        ("ARTICLE IV", ("Article IV", "[Art. IV]")),
        ("Art. 6 Lawfulness", ("Article 6", "[Art. 6]")),
        ("Section 12. Penalties", ("Section 12", "[Sec. 12]")),
        ("§ 5 Notice", ("§ 5", "[§ 5]")),
        ("Rule 3.2", ("Rule 3.2", "[Rule 3.2]")),
        ("12.3 Time limits", ("Section 12.3", "[Sec. 12.3]")),
        ("GENERAL PROVISIONS", None),
        ("2020 was a year", None),
    ],
)
def test_provision_ref(line, expected):
    assert provision_ref(line) == expected


def test_templated_rows_cite_and_carry_jurisdiction():
    view = statute_view()
    rows = build(view, ctx_for())
    assert len(rows) == 5  # articles 1-3, the continuation of article 3, § 4; not preamble or signature
    cites = [r.meta["citation"] for r in rows]
    assert cites == ["[Art. 1]", "[Art. 2]", "[Art. 3]", "[Art. 3]", "[§ 4]"]
    for r in rows:
        assert r.task == "statute_qa" and r.builder == "statute_qa" and r.meta["jurisdiction"] == "UK"
        assert r.meta["form"] == "template" and r.answer.endswith(r.meta["citation"])
        assert f"of the {TITLE} (UK)" in r.messages[1]["content"]
        assert r.span is not None and r.chunk_ids
    first = rows[0]
    assert "Article 1 (Scope) of the Data Protection Act 2018 (UK)" in first.messages[1]["content"]
    assert first.answer.startswith(
        'Article 1 (Scope) of the Data Protection Act 2018 (UK) provides: "This Act'
    )
    assert "also provides" in rows[3].answer  # the continuation chunk
    assert 'provides: "A controller who breaches' in rows[4].answer  # "§ 4 Penalties" is a heading, not text


def test_no_original_name_reaches_any_row():
    rows = build(statute_view(), ctx_for(answer_sentences=5, include_article_in_prompt=True))
    dump = json.dumps([r.model_dump(mode="json") for r in rows])
    assert "Jane" not in dump and "Doe" not in dump and "[PERSON_1]" in dump


def test_missing_jurisdiction_warns_and_tags_unknown():
    ctx = ctx_for()
    b = StatuteQABuilder()
    rows = list(b.document_rows(statute_view(metadata={"document_type": "Regulations"}), ctx))
    rows += list(b.document_rows(statute_view(doc_id="act-2"), ctx))
    list(b.corpus_rows(ctx, {}))
    assert b.describe()["rows_by_jurisdiction"] == {"UK": 5, "unknown": 5}
    rows = rows[:5]
    assert rows and {r.meta["jurisdiction"] for r in rows} == {"unknown"}
    assert [w for w in ctx.warnings if "no jurisdiction" in w] == [
        (
            "statute_qa: 1 document(s) have no jurisdiction metadata (act-1); their rows are tagged "
            "'unknown' (set it on ingest or in a sidecar file)"
        )
    ]
    assert all("(unknown)" not in r.messages[1]["content"] for r in rows)


def test_only_legislation_and_unsafe_titles_are_left_out():
    assert build(make_view(CONTRACT), ctx_for()) == []  # a contract is not a statute
    assert build(statute_view(), ctx_for(document_types=["regulation"])) == []
    # A title that is not in the anonymized text gives way to the act's first line ...
    rows = build(statute_view(title="statute from Jane Doe.txt"), ctx_for())
    assert rows and all(f"the {TITLE} (UK)" in r.messages[1]["content"] for r in rows)
    assert "Jane" not in json.dumps([r.model_dump(mode="json") for r in rows])
    # ... and where neither names legislation (a file name, an article heading), to "this statute".
    rows = build(statute_view(title="act", sections=STATUTE[1:]), ctx_for())
    assert rows and all("this statute (UK)" in r.messages[1]["content"] for r in rows)


def test_deterministic_and_questions_per_article():
    one = [r.model_dump_json() for r in build(statute_view(), ctx_for(seed=1, questions_per_article=2))]
    assert one == [
        r.model_dump_json() for r in build(statute_view(), ctx_for(seed=1, questions_per_article=2))
    ]
    assert len(one) == 10 and len({json.loads(r)["id"] for r in one}) == 10


def _teacher(url: str) -> Teacher:
    return Teacher(TeacherConfig(base_url=url, model="fake-teacher", backoff=0))


def test_teacher_pairs_are_grounded_and_cited():
    def answer(body: dict) -> str:
        user = body["messages"][-1]["content"]
        if "[Art. 3]" in user:
            return "Question: When is processing lawful?\nAnswer: Only with consent or for a contract."
        if "[§ 4]" in user:
            return "I cannot help with that."  # not in the asked form: the template stands in
        return "Question: What does it cover?\nAnswer: Automated processing [Art. 1] and more."

    ctx = ctx_for()
    with fake_openai_server(answer) as (srv, url), _teacher(url) as teacher:
        ctx.teacher = teacher
        rows = build(statute_view(), ctx)
    by_cite = {}
    for r in rows:
        by_cite.setdefault(r.meta["citation"], []).append(r)
    art3 = by_cite["[Art. 3]"][0]
    assert art3.messages[1]["content"] == "When is processing lawful?"
    assert art3.answer == "Only with consent or for a contract. [Art. 3]"  # the missing cite appended
    assert art3.meta["form"] == "teacher" and art3.meta["teacher"] == "fake-teacher"
    assert by_cite["[Art. 1]"][0].answer == "Automated processing [Art. 1] and more."
    assert by_cite["[§ 4]"][0].meta["form"] == "template"
    assert any("replaced by the template: 1 not in Question/Answer form" in w for w in ctx.warnings)
    sent = json.dumps([q["body"] for q in srv.requests])
    assert "Jane" not in sent and "[PERSON_1]" in sent and "(UK)" in sent


def test_teacher_auth_error_stops_the_build():
    with (
        fake_openai_server(script=[(403, {"error": {"message": "forbidden"}}, {})]) as (_srv, url),
        _teacher(url) as teacher,
        pytest.raises(DatasetError, match="403"),
    ):
        build(statute_view(), ctx_for(teacher=teacher))


def test_merged_chunk_yields_one_question_per_provision():
    merged = ("body", "Article 1 Scope", STATUTE[1][2] + "\n\nArticle 2 Definitions\n" + STATUTE[2][2])
    rows = build(statute_view(sections=[STATUTE[0], merged]), ctx_for())
    assert [r.meta["citation"] for r in rows] == ["[Art. 1]", "[Art. 2]"]
    assert len({r.id for r in rows}) == 2 and rows[0].span == rows[1].span  # both point at the merged chunk
    assert '"Personal data" means' in rows[1].answer and "Article 2" not in rows[0].answer
