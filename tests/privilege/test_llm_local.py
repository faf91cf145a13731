"""The LLM member end to end: a tiny random local model through the real scorer path (evals.session.load_model ->
ModelScorer.loglik / generate -> llm.LocalLLM), no mocks of the scoring. Its probabilities join the members'
disagreement; the run completes, resumes after a crash and enqueues."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from lextune.core.tables_review import ReviewItemRow
from lextune.privilege import pipeline
from lextune.privilege.features import featurize
from lextune.privilege.records import CATEGORIES


@pytest.fixture()
def tiny_llm(store, tiny_model_dir):
    from lextune.evals.session import load_model
    from lextune.privilege.llm import LocalLLM

    loaded = load_model(store, "stock", base_model=str(tiny_model_dir), cache=False)  # as `--model stock` does
    return LocalLLM(loaded.scorer, label=loaded.label)


def test_tiny_local_llm_member_runs_resumes_and_enqueues(store, slice_file, sample, trained, tiny_llm, monkeypatch):
    monkeypatch.setattr(pipeline, "train_on", lambda lexicon, training, **kw: trained)
    docs = sample["test"][:30]  # what slice_file holds, in order

    def crash(k, done):
        if k == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.run(store, slice_file, matter="M-LLM", batch=8, llm=tiny_llm, on_batch=crash)
    run_id = next(pipeline.runs_dir(store).iterdir()).name
    assert pipeline.progress(store, run_id)["docs_done"] == 16
    assert pipeline.run_manifest(store, run_id)["engine"] == tiny_llm.label
    res = pipeline.run(store, None, resume=run_id, llm=tiny_llm)
    assert res.resumed_from == 16 and res.total_done == 30 and res.engine == tiny_llm.label

    rows = list(pipeline.results(store, run_id))
    assert [r["doc"]["id"] for r in rows] == [d.id for d in docs]
    calls = [r["call"] for r in rows]
    llm = np.array([[c["llm_probabilities"][k] for k in CATEGORIES] for c in calls])
    assert np.allclose(llm.sum(axis=1), 1, atol=1e-3) and (llm > 0).all()
    assert np.ptp(llm, axis=0).max() > 1e-4  # scored per document, not a constant

    # The LLM is the 6th member: each flagged call's disagreement counts its vote too.
    members = trained.member_probs(featurize(docs, trained.lexicon)[0]).argmax(axis=2)  # (5, n)
    votes = np.concatenate([members, llm.argmax(axis=1)[None]], axis=0)
    flagged = [i for i, c in enumerate(calls) if c["stage1_pass"]]
    assert flagged
    for i in flagged:
        want = float((votes[:, i] != CATEGORIES.index(calls[i]["category"])).mean())
        assert calls[i]["disagreement"] == pytest.approx(want, abs=1e-4)
        clf = trained.member_probs(featurize([docs[i]], trained.lexicon)[0]).mean(axis=0)[0]
        mixed = (1 - trained.llm_weight) * clf + trained.llm_weight * llm[i]
        assert [calls[i]["probabilities"][k] for k in CATEGORIES] == pytest.approx(mixed, abs=2e-3)

    with store.session() as s:
        queue = s.execute(select(ReviewItemRow).where(ReviewItemRow.task == "privilege")).scalars().all()
    assert len(queue) == res.review_queued == sum(c["needs_review"] for c in calls) > 0
    assert all(q.model_version == tiny_llm.label and q.matter == "M-LLM" for q in queue)
    withheld = [c for c in calls if c["category"] != "not_privileged"]
    assert withheld and all(c["description"] for c in withheld)  # a random model's draft falls back to the template
