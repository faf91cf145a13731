from lextune.evals.compare import compare
from lextune.evals.runner import Prediction, score

LABELS = ["Governing Law", "Insurance", "Audit Rights"]


def _typing(i: int, gold: str, generated: str, scores: list[float], prior: list[float]) -> Prediction:
    return Prediction(row_id=f"r{i}", task="clause_type", gold=gold, generated=generated, choices=LABELS,
                      loglik_scores=scores, prior_scores=prior)


def test_calibration_removes_a_label_prior():
    prior = [-1.0, -5.0, -5.0]  # the model likes "Governing Law" whatever the passage
    preds = [
        _typing(0, "Governing Law", "Governing Law", [-1.0, -6.0, -6.0], prior),
        _typing(1, "Insurance", "I think insurance", [-2.0, -3.0, -6.0], prior),
        _typing(2, "Audit Rights", "no idea", [-2.0, -6.0, -3.5], prior),
    ]
    assert [p.loglik_choice() for p in preds] == ["Governing Law"] * 3
    assert [p.loglik_choice(calibrated=True) for p in preds] == LABELS
    m = score(preds, LABELS)
    assert m["clause_type.loglik"]["accuracy"] == 1 / 3
    assert m["clause_type.loglik_calibrated"]["accuracy"] == 1.0
    assert m["clause_type.generation"]["accuracy"] == 2 / 3  # "I think insurance" maps to Insurance


def test_quote_view_and_compare_pairs_rows():
    stock = [Prediction(row_id=f"q{i}", task="clause_quote", gold=g, generated="something else entirely")
             for i, g in enumerate(["Not found", "The laws of Delaware govern this Agreement."] * 5)]
    tuned = [p.model_copy(update={"generated": p.gold}) for p in stock]
    s, t = score(stock, LABELS), score(tuned, LABELS)
    assert t["clause_quote"]["f1"] == 1.0 and s["clause_quote"]["f1"] == 0.0
    tasks = compare(stock, tuned, s, t, LABELS, n_resamples=200)
    d, lo, _ = tasks["clause_quote"]["ci"]["f1"]["delta"]
    assert d == 1.0 and lo > 0
    assert tasks["clause_quote"]["n"] == 10


def test_compare_refuses_unpaired_rows():
    import pytest

    a = [Prediction(row_id="a", task="clause_quote", gold="Not found", generated="Not found")]
    b = [Prediction(row_id="b", task="clause_quote", gold="Not found", generated="Not found")]
    with pytest.raises(ValueError, match="same rows"):
        compare(a, b, score(a, LABELS), score(b, LABELS), LABELS)
