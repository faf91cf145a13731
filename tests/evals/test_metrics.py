from __future__ import annotations

import numpy as np
import pytest

from lextune.evals.metrics import (
    NOT_FOUND,
    bootstrap_ci,
    classification_scores,
    is_not_found,
    jaccard,
    match_label,
    normalize_label,
    paired_bootstrap_delta,
    quote_scores,
)


def test_normalize_label() -> None:
    assert normalize_label('  "Governing   Law."  ') == "governing law"
    assert normalize_label("\u201cNon-Compete\u201d") == "non-compete"
    assert normalize_label("YES\n") == "yes"


@pytest.mark.parametrize(
    ("generated", "labels", "expected"),
    [
        ("Yes", ["Yes", "No"], "Yes"),
        ('"yes."', ["Yes", "No"], "Yes"),
        ("No, the contract does not say so.", ["Yes", "No"], "No"),
        ("Non-Compete Exception applies here", ["Non-Compete", "Non-Compete Exception"], "Non-Compete Exception"),
        ("I think this is governing law.", ["Governing Law", "Termination"], "Governing Law"),
        ("The clause is a non-compete", ["Compete", "Non-Compete"], "Non-Compete"),
        ("not sure", ["Yes", "No"], None),
        ("nothing matches", ["Governing Law"], None),
        ("", ["Yes", "No"], None),
    ],
)
def test_match_label(generated: str, labels: list[str], expected: str | None) -> None:
    assert match_label(generated, labels) == expected


def test_classification_scores_hand_computed() -> None:
    labels = ["a", "b", "c"]
    gold = ["a", "a", "b", "c", "c", "c"]
    pred = ["a", "b", "b", "c", None, "a"]
    scores = classification_scores(gold, pred, labels)
    # a: P=1/2 R=1/2 F1=1/2; b: P=1/2 R=1 F1=2/3; c: P=1 R=1/3 F1=1/2
    assert scores["accuracy"] == pytest.approx(3 / 6)
    assert scores["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)
    assert scores["n"] == 6
    assert scores["per_label"]["b"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert scores["per_label"]["c"] == pytest.approx({"precision": 1.0, "recall": 1 / 3, "f1": 0.5, "support": 3})


def test_classification_undefined_f1_is_zero_and_counts_in_macro() -> None:
    scores = classification_scores(["a"], ["a"], ["a", "z"])
    assert scores["per_label"]["z"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert scores["macro_f1"] == pytest.approx(0.5)


def test_classification_none_is_wrong_and_lengths_must_match() -> None:
    assert classification_scores(["a", "b"], [None, None], ["a", "b"])["accuracy"] == 0.0
    with pytest.raises(ValueError):
        classification_scores(["a"], [], ["a"])


def test_not_found_and_jaccard() -> None:
    assert is_not_found(NOT_FOUND)
    assert is_not_found("NOT FOUND.")
    assert is_not_found('"Not found in this contract"')
    assert not is_not_found("The clause was not found")
    assert jaccard("The Buyer pays", "the buyer PAYS.") == 1.0
    assert jaccard("a b", "a b c d") == 0.5
    assert jaccard("a", "b") == 0.0
    assert jaccard("", "") == 1.0


def test_quote_scores_hand_made_case() -> None:
    gold = [
        "The Supplier shall indemnify the Buyer",
        NOT_FOUND,
        NOT_FOUND,
        "This Agreement is governed by the laws of New York",
        "Term is five years",
    ]
    pred = [
        "the supplier shall indemnify the buyer against all claims",  # jaccard 5/8 -> tp
        "Not found.",  # correct absence
        "Payment is due in 30 days",  # quote where there is none -> fp
        "Payment is due in 30 days",  # wrong quote, jaccard 1/15 -> fp and fn
        NOT_FOUND,  # missed clause -> fn
    ]
    scores = quote_scores(gold, pred)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 2, 2)
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(1 / 3)
    assert scores["not_found_accuracy"] == pytest.approx(0.5)
    assert scores["mean_jaccard"] == pytest.approx((5 / 8 + 1 / 15 + 0.0) / 3)
    assert scores["n"] == 5


def test_quote_scores_threshold_is_inclusive_and_blank_is_not_found() -> None:
    assert quote_scores(["a b"], ["a b c d"])["tp"] == 1
    assert quote_scores(["a b"], ["a b c d"], threshold=0.6)["tp"] == 0
    blank = quote_scores([NOT_FOUND, "a clause"], ["   ", ""])
    assert (blank["tp"], blank["fp"], blank["fn"]) == (0, 0, 1)
    assert blank["not_found_accuracy"] == 1.0


def test_quote_scores_all_zero_when_undefined() -> None:
    scores = quote_scores([NOT_FOUND], [NOT_FOUND])
    assert scores["precision"] == scores["recall"] == scores["f1"] == scores["mean_jaccard"] == 0.0
    assert scores["not_found_accuracy"] == 1.0


def _accuracy_fn(correct: np.ndarray):
    return lambda idx: float(correct[idx].mean())


def test_bootstrap_ci_contains_estimate_and_is_deterministic() -> None:
    correct = np.array([1] * 70 + [0] * 30)
    fn = _accuracy_fn(correct)
    low, high = bootstrap_ci(fn, len(correct))
    assert 0.55 < low < 0.7 < high < 0.85
    assert bootstrap_ci(fn, len(correct)) == (low, high)
    assert bootstrap_ci(fn, len(correct), seed=1) != (low, high)
    wide = bootstrap_ci(fn, len(correct), alpha=0.01)
    assert wide[0] <= low and wide[1] >= high


def test_bootstrap_ci_on_macro_f1() -> None:
    rng = np.random.default_rng(3)
    labels = ["a", "b", "c"]
    gold = list(rng.choice(labels, 60))
    pred = [g if rng.random() < 0.7 else "a" for g in gold]

    def macro(idx: np.ndarray) -> float:
        return classification_scores([gold[i] for i in idx], [pred[i] for i in idx], labels)["macro_f1"]

    point = classification_scores(gold, pred, labels)["macro_f1"]
    low, high = bootstrap_ci(macro, len(gold), n_resamples=300)
    assert low <= point <= high


def test_bootstrap_rejects_empty() -> None:
    with pytest.raises(ValueError):
        bootstrap_ci(lambda idx: 0.0, 0)


def test_paired_bootstrap_delta_sign() -> None:
    stock = np.array([1] * 60 + [0] * 40)
    tuned = stock.copy()
    tuned[60:75] = 1  # tuned fixes 15 items and breaks none
    result = paired_bootstrap_delta(_accuracy_fn(stock), _accuracy_fn(tuned), len(stock))
    assert result["delta"] == pytest.approx(0.15)
    assert 0.0 < result["low"] <= 0.15 <= result["high"]
    assert result["p_better"] > 0.99
    assert paired_bootstrap_delta(_accuracy_fn(stock), _accuracy_fn(tuned), len(stock)) == result

    reverse = paired_bootstrap_delta(_accuracy_fn(tuned), _accuracy_fn(stock), len(stock))
    assert reverse["delta"] == pytest.approx(-0.15)
    assert reverse["high"] < 0.0
    assert reverse["p_better"] < 0.01


def test_paired_bootstrap_uses_same_indices_for_both_systems() -> None:
    correct = np.array([1, 0] * 50)
    # Unpaired resampling would give a spread of deltas; paired gives exactly zero every time.
    result = paired_bootstrap_delta(_accuracy_fn(correct), _accuracy_fn(correct), len(correct))
    assert result == {"delta": 0.0, "low": 0.0, "high": 0.0, "p_better": 0.0}
