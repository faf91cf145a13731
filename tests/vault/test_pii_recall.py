"""The measured PII recall, reproduced from the labelled sample shipped in the package.

"test" is the part drawn last and measured once (scripts/make_pii_sample.py tells the history);
its figures are the ones reported. Definitions: lextune.vault.pii.measure.
"""

from __future__ import annotations

from collections import Counter

import pytest

from lextune.vault.pii import measure

# Recall on the "test" split (20 CUAD train contracts, 538 party and 126 person spans), as reported.
REPORTED_TEST_RECALL = {"PARTY": 0.924, "PERSON": 0.960, "ADDRESS": 0.605, "PHONE_NUMBER": 1.0}
TARGET = 0.95


@pytest.fixture(scope="module")
def test_scores() -> measure.Scores:
    return measure.score(measure.load_sample("test"), measure.ours())


def test_sample_ships_in_the_package_with_its_splits():
    docs = measure.load_sample()
    assert str(measure.sample_path()).endswith("lextune/demo_data/pii_sample.jsonl.gz")
    assert Counter(d.split for d in docs) == {"dev": 20, "heldout": 20, "heldout2": 16, "test": 20}
    assert len({d.id for d in docs}) == 76  # no contract in two splits
    spans = [(d, s, e, t) for d in docs for s, e, t in d.gold]
    assert {t for *_, t in spans} >= {"PARTY", "PERSON", "ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER", "NEUTRAL"}
    assert all(0 <= s < e <= len(d.text) and not d.text[s:e].isspace() for d, s, e, _ in spans)


def test_reported_recall_is_reproduced(test_scores):
    for etype, value in REPORTED_TEST_RECALL.items():
        assert test_scores.recall(etype) == pytest.approx(value, abs=0.006), etype
    assert test_scores.precision() >= 0.95


def test_person_recall_meets_the_target(test_scores):
    assert test_scores.recall("PERSON") >= TARGET


@pytest.mark.xfail(strict=True, reason="PARTY recall on the final held-out split is 0.924, below the 0.95 target")
def test_party_recall_meets_the_target(test_scores):
    assert test_scores.recall("PARTY") >= TARGET


def test_scoring_counts_coverage_and_precision_as_documented():
    doc = measure.SampleDoc("x", "t", "test", "Acme Corp pays Jane Doe at HQ.",
                            [(0, 9, "PARTY"), (15, 23, "PERSON"), (27, 29, "NEUTRAL")])
    sc = measure.score([doc], lambda text: [(0, 4, "PARTY"), (15, 23, "PERSON"), (27, 29, "PARTY"), (10, 14, "X")])
    assert sc.recall("PARTY") == 0.0  # 4 of 9 characters is under the 80% bar
    assert sc.recall("PERSON") == 1.0
    assert sc.pred_total == {"PARTY": 1, "PERSON": 1, "X": 1}  # the span on a NEUTRAL name is left out
    assert sc.precision() == pytest.approx(2 / 3)
