"""Confidence intervals and paired tests that resample DOCUMENTS, not rows.

Examples drawn from one contract share its drafting, its parties and its quirks: a model that misreads
one contract tends to miss every question about it. Resampling rows as if they were independent then
understates the noise, and intervals come out too narrow. The cluster bootstrap draws whole documents
(`Prediction.doc_id`; an example without one is its own cluster) with replacement and scores all the
predictions of the drawn documents together.

The paired test draws the same documents for both systems, so what makes a document hard cancels out
of the difference. Its p-value is the two-sided paired-bootstrap p-value
    p = 2 * min(P*(delta <= 0), P*(delta >= 0))     over the resamples, clipped to [1/n_resamples, 1],
which is below `alpha` exactly when the (1 - alpha) percentile interval of the delta leaves out 0, so
the interval and the p-value never disagree.

Metrics are arbitrary functions of a list of predictions (a task's `score()`), which may be slow:
`*_many` variants score each resample once and read several metrics off the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from lextune.evals.records import Prediction

Metric = Callable[[list[Prediction]], float]
MultiMetric = Callable[[list[Prediction]], dict[str, float]]


def cluster_indices(preds: Sequence[Prediction]) -> list[np.ndarray]:
    """Row indices of each document, in order of first appearance; a None doc_id is a cluster of one."""
    by_doc: dict[str, list[int]] = {}
    clusters: list[list[int]] = []
    for i, pred in enumerate(preds):
        if pred.doc_id is None:
            clusters.append([i])
        elif pred.doc_id in by_doc:
            by_doc[pred.doc_id].append(i)
        else:
            by_doc[pred.doc_id] = [i]
            clusters.append(by_doc[pred.doc_id])  # the same list object: later rows land in it
    return [np.asarray(c, dtype=np.int64) for c in clusters]


def _resamples(clusters: list[np.ndarray], n_resamples: int, seed: int):
    """Yield the row indices of each resample: as many documents as there are, drawn with replacement."""
    if not clusters:
        raise ValueError("the bootstrap needs at least one prediction")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1 (got {n_resamples})")
    rng = np.random.default_rng(seed)
    for _ in range(n_resamples):
        drawn = rng.integers(0, len(clusters), size=len(clusters))
        yield np.concatenate([clusters[c] for c in drawn])


def _percentiles(values: np.ndarray, alpha: float) -> tuple[float, float]:
    # A metric can be undefined on some resamples (no positive gold example drawn): leave those out.
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def cluster_bootstrap_ci(
    preds_a: Sequence[Prediction], metric: Metric, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile (1 - alpha) interval of `metric(preds)` under resampling of documents."""
    preds = list(preds_a)
    values = np.array([_as_float(metric([preds[i] for i in ix]))
                       for ix in _resamples(cluster_indices(preds), n_resamples, seed)])
    return _percentiles(values, alpha)


def align_pairs(preds_a: Sequence[Prediction], preds_b: Sequence[Prediction]) -> list[Prediction]:
    """`preds_b` reordered to follow `preds_a` by example id; ValueError naming an id one side lacks."""
    ids_a = [p.example_id for p in preds_a]
    by_id_b: dict[str, Prediction] = {}
    for pred in preds_b:
        if pred.example_id in by_id_b:
            raise ValueError(f"example id {pred.example_id!r} appears twice in the second system's "
                             "predictions")
        by_id_b[pred.example_id] = pred
    seen: set[str] = set()
    for example_id in ids_a:
        if example_id in seen:
            raise ValueError(f"example id {example_id!r} appears twice in the first system's predictions")
        seen.add(example_id)
        if example_id not in by_id_b:
            raise ValueError(f"example id {example_id!r} has a prediction from the first system but not "
                             "the second")
    for example_id in by_id_b:
        if example_id not in seen:
            raise ValueError(f"example id {example_id!r} has a prediction from the second system but not "
                             "the first")
    return [by_id_b[i] for i in ids_a]


def paired_cluster_bootstrap_many(
    preds_a: Sequence[Prediction],
    preds_b: Sequence[Prediction],
    metrics: MultiMetric,
    keys: Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, dict]:
    """`paired_cluster_bootstrap` for several metrics read off one `metrics(preds)` dict per resample.

    Per key: delta (b - a on all predictions), its interval low/high, p_better (share of resamples
    where b > a), p_value (two-sided, see the module docstring), and each system's own interval
    "a": [lo, hi], "b": [lo, hi] from the same resamples.
    """
    a = list(preds_a)
    b = align_pairs(a, preds_b)
    keys = list(keys)
    full_a, full_b = metrics(a), metrics(b)
    draws_a = np.empty((n_resamples, len(keys)))
    draws_b = np.empty((n_resamples, len(keys)))
    # Clusters come from the first system's doc ids; both sides use the very same rows of each resample.
    for r, ix in enumerate(_resamples(cluster_indices(a), n_resamples, seed)):
        got_a, got_b = metrics([a[i] for i in ix]), metrics([b[i] for i in ix])
        draws_a[r] = [_as_float(got_a.get(k)) for k in keys]
        draws_b[r] = [_as_float(got_b.get(k)) for k in keys]
    out: dict[str, dict] = {}
    for j, key in enumerate(keys):
        deltas = draws_b[:, j] - draws_a[:, j]
        finite = deltas[np.isfinite(deltas)]
        low, high = _percentiles(deltas, alpha)
        if finite.size:
            tail = min(np.mean(finite <= 0), np.mean(finite >= 0))
            p_value = float(np.clip(2 * tail, 1 / finite.size, 1.0))
            p_better = float(np.mean(finite > 0))
        else:
            p_value = p_better = math.nan
        out[key] = {
            "delta": _as_float(full_b.get(key)) - _as_float(full_a.get(key)),
            "low": low,
            "high": high,
            "p_better": p_better,
            "p_value": p_value,
            "a": list(_percentiles(draws_a[:, j], alpha)),
            "b": list(_percentiles(draws_b[:, j], alpha)),
        }
    return out


def paired_cluster_bootstrap(
    preds_a: Sequence[Prediction],
    preds_b: Sequence[Prediction],
    metric: Metric,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """Difference metric(b) - metric(a) on the same examples, with a document-level paired bootstrap.

    Returns {"delta", "low", "high", "p_better", "p_value"} (plus each system's interval "a" and "b").
    `preds_a` and `preds_b` must cover the same example ids (any order); ValueError names one that
    only one side has.
    """
    result = paired_cluster_bootstrap_many(
        preds_a, preds_b, lambda ps: {"m": metric(ps)}, ["m"], n_resamples=n_resamples, seed=seed, alpha=alpha
    )
    return result["m"]
