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


def test_predictions_come_back_in_row_order(tiny_model_dir, home):
    from lextune.core.records import DatasetRow
    from lextune.evals.runner import predict
    from lextune.models.loading import load_base_model

    def row(i: int, task: str) -> DatasetRow:
        return DatasetRow(id=f"r{i}", task=task, split="test", document_id="d", answer="Not found",
                          choices=LABELS if task == "clause_type" else None,
                          messages=[{"role": "user", "content": f"row {i}"},
                                    {"role": "assistant", "content": "Not found"}])

    rows = [row(0, "clause_quote"), row(1, "clause_type"), row(2, "clause_quote"), row(3, "clause_type")]
    model, tok, _ = load_base_model(str(tiny_model_dir))
    preds = predict(model, tok, rows)
    assert [p.row_id for p in preds] == ["r0", "r1", "r2", "r3"]
    assert preds[1].loglik_scores and preds[0].loglik_scores is None
