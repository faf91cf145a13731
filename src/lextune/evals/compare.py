"""Stock vs tuned on the same rows: metrics side by side, with paired bootstrap intervals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lextune.evals.metrics import bootstrap_ci, paired_bootstrap_delta
from lextune.evals.runner import Prediction, view_answers, view_metrics

HEADLINE = {
    "clause_type.generation": ("accuracy", "macro_f1"),
    "clause_type.loglik": ("accuracy", "macro_f1"),
    "clause_type.loglik_calibrated": ("accuracy", "macro_f1"),
    "clause_quote": ("precision", "recall", "f1", "not_found_accuracy"),
}
Metric = Callable[[np.ndarray], float]


def _metric_fns(view: str, preds: list[Prediction], labels: list[str]) -> tuple[dict[str, Metric], int]:
    """For each headline metric, a function of resampled row indices (for the bootstrap); and n."""
    gold, guess = view_answers(view, preds, labels)

    def metric(name: str) -> Metric:
        return lambda ix: view_metrics(view, [gold[i] for i in ix], [guess[i] for i in ix], labels)[name]

    return {m: metric(m) for m in HEADLINE[view]}, len(gold)


def compare(
    stock: list[Prediction], tuned: list[Prediction], stock_metrics: dict, tuned_metrics: dict,
    labels: list[str], n_resamples: int = 1000, seed: int = 0,
) -> dict[str, dict]:
    """The report's `tasks` section: per view, headline metrics, 95% CIs and paired deltas."""
    if [p.row_id for p in stock] != [p.row_id for p in tuned]:
        raise ValueError("stock and tuned predictions must cover the same rows in the same order")
    tasks: dict[str, dict] = {}
    for view, metrics in HEADLINE.items():
        if view not in stock_metrics or view not in tuned_metrics:
            continue
        (fa, n), (fb, _) = _metric_fns(view, stock, labels), _metric_fns(view, tuned, labels)
        entry: dict = {"n": n, "stock": {}, "tuned": {}, "ci": {}}
        for m in metrics:
            entry["stock"][m] = stock_metrics[view][m]
            entry["tuned"][m] = tuned_metrics[view][m]
            d = paired_bootstrap_delta(fa[m], fb[m], n, n_resamples=n_resamples, seed=seed)
            entry["ci"][m] = {
                "stock": list(bootstrap_ci(fa[m], n, n_resamples=n_resamples, seed=seed)),
                "tuned": list(bootstrap_ci(fb[m], n, n_resamples=n_resamples, seed=seed)),
                "delta": [d["delta"], d["low"], d["high"]],
                "p_better": d["p_better"],
            }
        if "per_label" in stock_metrics[view]:
            entry["per_label"] = {"stock": stock_metrics[view]["per_label"],
                                  "tuned": tuned_metrics[view]["per_label"]}
        tasks[view] = entry
    return tasks
