"""Stage 1 threshold, stage 2 categories, hard negatives, descriptions (SYNTHETIC sample, no LLM)."""

from __future__ import annotations

import numpy as np

from lextune.privilege.describe import leaks, safe_description
from lextune.privilege.model import PrivilegeModel


def test_sample_is_marked_synthetic_and_split(sample):
    docs = [d for part in sample.values() for d in part]
    assert len(docs) == 600 and all(d.synthetic is True for d in docs)
    assert {d.split for d in docs} == {"train", "validation", "test"}


def test_threshold_reaches_98_percent_recall_on_validation(trained, sample):
    val = sample["validation"]
    calls = trained.predict(val)
    pos = np.array([d.label != "not_privileged" for d in val])
    flagged = np.array([c.stage1_pass for c in calls])
    assert flagged[pos].mean() >= 0.98
    assert trained.validation["recall"] >= 0.98


def test_hard_negatives_mostly_not_privileged(trained, sample):
    hard = [d for d in sample["test"] + sample["validation"] if d.kind in ("lawyer_cc_only", "lawyer_signature",
                                                                          "press_release", "opposing_counsel")]
    calls = trained.predict(hard)
    cc_only = [c for c, d in zip(calls, hard) if d.kind == "lawyer_cc_only"]
    assert sum(c.category == "not_privileged" for c in cc_only) / len(cc_only) >= 0.8
    assert all("attorney_cc_only" in c.reasons for c in cc_only)
    assert sum(c.category == "not_privileged" for c in calls) / len(calls) >= 0.8


def test_partially_privileged_detected(trained, sample):
    partial = [d for d in sample["test"] if d.label == "partially_privileged"]
    calls = trained.predict(partial)
    assert sum(c.category == "partially_privileged" for c in calls) / len(calls) >= 0.7
    assert all("redacted" in c.privilege_asserted for c in calls if c.category == "partially_privileged")


def test_descriptions_do_not_reveal_content(trained, sample):
    docs = sample["test"]
    for d, c in zip(docs, trained.predict(docs)):
        if c.category != "not_privileged":
            assert c.description and not leaks(c.description, d)
            assert d.subject.lower() not in c.description.lower()
    d = next(x for x in docs if x.label == "privileged")
    c = trained.predict([d])[0]
    copied = " ".join(d.body.split()[:12])
    assert safe_description(f"Email stating that {copied}", d, c, trained.lexicon) == c.description  # refused


def test_model_round_trip(trained, sample):
    again = PrivilegeModel.from_bytes(trained.to_bytes())
    a, b = trained.predict(sample["test"][:10]), again.predict(sample["test"][:10])
    assert [x.probabilities for x in a] == [x.probabilities for x in b] and again.threshold == trained.threshold


def test_disagreeing_llm_member_sends_items_to_review(trained, sample):
    docs = [d for d in sample["test"] if d.label == "privileged"][:8]
    llm = np.tile(np.array([0.0, 0.0, 1.0]), (len(docs), 1))  # an LLM sure they are not privileged
    calls = trained.predict(docs, llm)
    assert all(c.needs_review for c in calls if c.stage1_pass)
    assert all(c.llm_probabilities["not_privileged"] == 1.0 for c in calls)
