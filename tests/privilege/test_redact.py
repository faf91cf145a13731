"""Partially privileged documents: the paragraph to redact is located (offsets into doc.text()), highlighted in the
review queue, and never written into the privilege log."""

from __future__ import annotations

from sqlalchemy import select

from lextune.core.tables_review import ReviewItemRow
from lextune.privilege import pipeline
from lextune.privilege.describe import leaks
from lextune.privilege.evaluate import evaluate
from lextune.privilege.features import paragraph_spans
from lextune.privilege.privlog import log_rows
from lextune.privilege.records import PrivilegeDoc


def test_paragraph_spans_are_offsets_into_text():
    d = PrivilegeDoc(id="p", subject="Status", body="  First para.\n\n\nSecond\nstill second.  \n \nThird.\n")
    spans = paragraph_spans(d)
    assert [d.text()[a:b] for a, b in spans] == ["First para.", "Second\nstill second.", "Third."]
    assert paragraph_spans(PrivilegeDoc(id="e", subject="x", body="")) == []


def test_generator_marks_the_privileged_paragraph(sample):
    partial = [d for part in sample.values() for d in part if d.label == "partially_privileged"]
    assert len(partial) == 90 and all(d.privileged_spans for d in partial)
    for d in partial:
        (a, b), = d.privileged_spans
        assert (a, b) in paragraph_spans(d) and "legal advice" in d.text()[a:b]
    assert not any(d.privileged_spans for part in sample.values() for d in part if d.label != "partially_privileged")


def test_located_span_is_the_marked_paragraph_on_the_test_split(trained, sample):
    partial = [d for d in sample["test"] if d.label == "partially_privileged"]
    calls = trained.predict(partial)
    called = [(d, c) for d, c in zip(partial, calls) if c.category == "partially_privileged"]
    assert called and all(c.redact for _, c in called)
    hits = sum((c.redact[0].start, c.redact[0].end) == tuple(d.privileged_spans[0]) for d, c in called)
    assert hits / len(called) >= 0.9
    for d, c in called:
        assert all(0 <= r.start < r.end <= len(d.text()) for r in c.redact)
        assert c.redact == sorted(c.redact, key=lambda r: -r.score)
        assert "marker_legal_advice" in c.redact[0].reasons
    # Only partially privileged calls carry spans.
    others = trained.predict([d for d in sample["test"] if d.label != "partially_privileged"][:20])
    assert all(not c.redact for c in others if c.category != "partially_privileged")


def test_eval_reports_redaction_on_the_test_split():
    r = evaluate()
    red = r["redaction"]
    assert red["documents"] == 18 and red["first_span_is_marked"] >= 0.9 and red["unmarked_spans"] <= 2
    # The README figures stay what they were: regenerating the sample only added privileged_spans.
    assert r["threshold"] == 0.7868 and r["stage1_test"] == {"recall": 0.9531, "precision": 1.0, "flagged": 61}


class LeansPrivileged:
    """An LLM member voting "privileged" for everything: partially privileged calls disagree with it, so are queued."""

    label = "fake-llm"

    def probs(self, docs):
        import numpy as np

        return np.tile(np.array([0.6, 0.3, 0.1]), (len(docs), 1))


def test_review_item_highlights_the_first_span_and_log_does_not_repeat_it(store, sample, tmp_path, trained,
                                                                          monkeypatch):
    import json

    monkeypatch.setattr(pipeline, "train_on", lambda lexicon, training, **kw: trained)
    docs = [d for d in sample["test"] if d.label == "partially_privileged"][:6]
    docs += [d for d in sample["test"] if d.label == "privileged"][:4]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d.model_dump(exclude={"label", "split", "kind", "privileged_spans"})) + "\n"
                            for d in docs))
    res = pipeline.run(store, path, batch=4, llm=LeansPrivileged())
    with store.session() as s:
        items = {i.document_id: i for i in s.execute(select(ReviewItemRow).where(
            ReviewItemRow.task == "privilege")).scalars().all()}
    rows = list(pipeline.results(store, res.run_id))
    partial = [r for r in rows if r["call"]["category"] == "partially_privileged"]
    assert partial and all(d.id in items for d in docs if any(r["doc"]["id"] == d.id for r in partial))
    by_id = {d.id: d for d in docs}
    for r in partial:
        d, call = by_id[r["doc"]["id"]], r["call"]
        first = call["redact"][0]
        assert "body" not in r["doc"] and set(first) == {"start", "end", "score", "reasons"}  # offsets, no text
        item = items[d.id]
        assert (item.span_start, item.span_end) == (first["start"], first["end"])
        assert item.source_text == d.text() and item.output["redact"][0]["start"] == first["start"]
        if d.privileged_spans:
            assert "legal advice" in item.source_text[item.span_start:item.span_end]
    log = log_rows(store, res.run_id)
    assert log
    for row in log:
        text = " ".join(row.values())
        for d in docs:
            assert not leaks(row["description"], d)
            for a, b in paragraph_spans(d):
                assert d.text()[a:b][:30] not in text
