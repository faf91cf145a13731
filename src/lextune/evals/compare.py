"""Stock vs tuned on the same rows: metrics side by side, with paired bootstrap intervals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lextune.evals.metrics import (
    bootstrap_ci,
    classification_scores,
    match_label,
    paired_bootstrap_delta,
    quote_scores,
)
from lextune.evals.runner import Prediction

HEADLINE = {
    "clause_type.generation": ("accuracy", "macro_f1"),
    "clause_type.loglik": ("accuracy", "macro_f1"),
    "clause_type.loglik_calibrated": ("accuracy", "macro_f1"),
    "clause_quote": ("precision", "recall", "f1", "not_found_accuracy"),
}
Metric = Callable[[np.ndarray], float]


def _metric_fns(view: str, preds: list[Prediction], labels: list[str]) -> dict[str, Metric]:
    """For each headline metric, a function of resampled row indices (for the bootstrap)."""
    if view.startswith("clause_type"):
        rows = [p for p in preds if p.task == "clause_type"]
        gold = [p.gold for p in rows]
        if view.endswith("generation"):
            guess = [match_label(p.generated, labels) for p in rows]
        else:
            guess = [p.loglik_choice(calibrated=view.endswith("calibrated")) for p in rows]

        def typing(name: str) -> Metric:
            return lambda ix: classification_scores([gold[i] for i in ix], [guess[i] for i in ix], labels)[name]

        return {m: typing(m) for m in HEADLINE[view]}
    rows = [p for p in preds if p.task == "clause_quote"]

    def quoting(name: str) -> Metric:
        return lambda ix: quote_scores([rows[i].gold for i in ix], [rows[i].generated for i in ix])[name]

    return {m: quoting(m) for m in HEADLINE[view]}


def _n_items(view: str, preds: list[Prediction]) -> int:
    task = "clause_type" if view.startswith("clause_type") else "clause_quote"
    return sum(1 for p in preds if p.task == task)


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
        n = _n_items(view, stock)
        fa, fb = _metric_fns(view, stock, labels), _metric_fns(view, tuned, labels)
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
