"""Classification and multiple-choice metrics over plain label lists.

Pure functions (no torch, no sklearn needed) so every number can be recomputed from stored predictions.
A None prediction is an unreadable answer (free text that names no label): wrong for every label,
and counted in its own "(none)" column of the confusion matrix so it is not mistaken for a label.
"""

from __future__ import annotations

NONE_COLUMN = "(none)"


def _div(num: float, den: float) -> float:
    return num / den if den else 0.0


def _ordered_labels(gold: list[str], pred: list[str | None], labels: list[str] | None) -> list[str]:
    if labels is None:
        return sorted({*gold, *(p for p in pred if p is not None)})
    known = set(labels)
    if unknown := sorted({g for g in gold if g not in known}):
        raise ValueError(f"gold labels {unknown} are not among the labels {labels}")
    if unknown := sorted({p for p in pred if p is not None and p not in known}):
        raise ValueError(f"predicted labels {unknown} are not among the labels {labels}")
    return list(dict.fromkeys(labels))


def classification_metrics(gold: list[str], pred: list[str | None], labels: list[str] | None = None) -> dict:
    """Accuracy, balanced accuracy, macro-F1, per-label scores and the confusion matrix.

    - balanced_accuracy: mean recall over the labels that occur in `gold` (LegalBench's metric; equal to
      sklearn's `balanced_accuracy_score`, which also drops classes absent from y_true).
    - macro_f1: mean F1 over the labels present in gold (sklearn's f1_score(average="macro") with
      labels= those), so a label the eval set never asks about does not pull the mean down with a 0.
    - per_label: precision, recall, f1, support for every label in `labels` (support 0 included).
    - confusion: rows are gold labels, columns the predicted ones plus "(none)" for unreadable answers.
    `labels` defaults to the sorted union of gold and predicted labels.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    order = _ordered_labels(gold, pred, labels)
    index = {label: i for i, label in enumerate(order)}
    matrix = [[0] * (len(order) + 1) for _ in order]
    for g, p in zip(gold, pred):
        matrix[index[g]][index[p] if p is not None else len(order)] += 1

    per_label: dict[str, dict[str, float | int]] = {}
    for i, label in enumerate(order):
        tp = matrix[i][i]
        support = sum(matrix[i])
        predicted = sum(row[i] for row in matrix)
        precision, recall = _div(tp, predicted), _div(tp, support)
        per_label[label] = {"precision": precision, "recall": recall,
                            "f1": _div(2 * precision * recall, precision + recall), "support": support}
    present = [s for s in per_label.values() if s["support"]]
    correct = sum(matrix[i][i] for i in range(len(order)))
    return {
        "accuracy": _div(correct, len(gold)),
        "balanced_accuracy": _div(sum(s["recall"] for s in present), len(present)),
        "macro_f1": _div(sum(s["f1"] for s in present), len(present)),
        "macro_f1_over": "labels present in gold",
        "per_label": per_label,
        "confusion": {"labels": order, "columns": [*order, NONE_COLUMN], "matrix": matrix},
        "unreadable": sum(1 for p in pred if p is None),
        "n": len(gold),
    }


def multiple_choice_metrics(gold: list[str], pred: list[str | None]) -> dict:
    """Accuracy of picked options against gold options; a None pick (no scores) is wrong."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    correct = sum(1 for g, p in zip(gold, pred) if p is not None and g == p)
    return {"accuracy": _div(correct, len(gold)), "n": len(gold)}
