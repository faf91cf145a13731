"""System A against system B on one task: metrics side by side, document-bootstrap CIs, paired deltas.

A is the reference (the stock model or the active version), B the candidate; every delta is B - A.
The entry `compare_task` returns is plain JSON (NaN and infinities become null), so it is stored as is
and read back by the promotion gate (lextune.evals.gate) and the report (lextune.evals.report_compare).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from lextune.evals.bootstrap import cluster_indices, paired_cluster_bootstrap_many
from lextune.evals.metrics import normalize_label
from lextune.evals.records import Example, Prediction
from lextune.evals.tasks.base import EvalTask

MAX_EXAMPLES = 5
Correct = Callable[[Prediction], "bool | None"]


def resolve(metrics: dict, key: str) -> Any:
    """The value at a dotted path ("loglik.balanced_accuracy") of nested metric dicts; KeyError if absent."""
    value: Any = metrics
    for i, part in enumerate(key.split(".")):
        if not isinstance(value, dict) or part not in value:
            where = ".".join(key.split(".")[:i]) or "the metrics"
            known = ", ".join(sorted(map(str, value))) if isinstance(value, dict) else "(not a dict)"
            raise KeyError(f"metric {key!r}: no {part!r} in {where} (has: {known})")
        value = value[part]
    return value


def resolve_or_none(metrics: dict | None, key: str) -> Any:
    try:
        return resolve(metrics or {}, key)
    except KeyError:
        return None


def answer_of(pred: Prediction) -> str | None:
    """What the model answered: the choice it found most likely when the task scored choices (the
    headline view of classification and multiple choice, even when a generation is stored too),
    else its generation."""
    choice = pred.choice_by_loglik()
    return choice if choice is not None else pred.generated


def default_correct(pred: Prediction) -> bool | None:
    """The answer equals the gold (one of them, for a list) after normalize_label; None with no answer."""
    answer = answer_of(pred)
    if answer is None:
        return None
    golds = pred.gold if isinstance(pred.gold, list) else [pred.gold]
    return normalize_label(answer) in {normalize_label(g) for g in golds}


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def default_metric_keys(task: EvalTask, metrics: dict) -> list[str]:
    """The headline first, then every other top-level float metric. Ints are counts (n, tp) and
    `*_threshold` a setting of the scorer (span's overlap_threshold): neither has a sampling error."""
    keys = [task.headline]
    keys += [k for k, v in metrics.items() if k != task.headline and _is_number(v)
             and not isinstance(v, numbers.Integral) and not k.endswith("_threshold")]
    return keys


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, NaN/inf to None, tuples to lists, keys to str."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if hasattr(value, "tolist"):  # numpy arrays
        return jsonable(value.tolist())
    return str(value)


def _changed_examples(preds_a: list[Prediction], preds_b: Sequence[Prediction], correct: Correct,
                      limit: int) -> dict:
    by_id_b = {p.example_id: p for p in preds_b}
    right: list[dict] = []
    wrong: list[dict] = []
    for pa in preds_a:
        pb = by_id_b[pa.example_id]
        ok_a, ok_b = correct(pa), correct(pb)
        if ok_a is None or ok_b is None or ok_a == ok_b:
            continue
        row = {"id": pa.example_id, "doc_id": pa.doc_id, "gold": pa.gold,
               "a": answer_of(pa), "b": answer_of(pb)}
        (right if ok_b else wrong).append(row)
    return {"newly_right": right[:limit], "newly_wrong": wrong[:limit],
            "n_newly_right": len(right), "n_newly_wrong": len(wrong)}


def compare_task(
    task: EvalTask,
    preds_a: list[Prediction],
    preds_b: list[Prediction],
    metrics_a: dict,
    metrics_b: dict,
    metric_keys: list[str] | None = None,
    n_resamples: int = 1000,
    *,
    seed: int = 0,
    alpha: float = 0.05,
    examples: list[Example] | None = None,
    baselines: dict[str, dict] | None = None,
    correct: Correct = default_correct,
    max_examples: int = MAX_EXAMPLES,
) -> dict:
    """The comparison entry of one task (JSON-able); see the module docstring for A and B.

    {"task", "kind", "headline", "higher_is_better", "n", "n_docs", "n_resamples", "metric_keys",
     "a": metrics_a, "b": metrics_b,
     "ci": {key: {"a": [lo, hi], "b": [lo, hi], "delta": [d, lo, hi], "p_value": p, "p_better": q}},
     "baselines": {name: {key: value}},
     "examples": {"newly_right": [{"id", "doc_id", "gold", "a", "b"}...], "newly_wrong": [...],
                  "n_newly_right": int, "n_newly_wrong": int}}

    Each key of `metric_keys` (default: headline, then the other top-level float metrics; dotted paths
    reach nested dicts) is bootstrapped over documents with `task.score` run once per resample and side.
    Baselines are `baselines` if given, else `task.baselines(examples)` when `examples` are given.
    `correct(pred)` decides which examples became right or wrong (None: cannot tell, left out).
    """
    keys = list(dict.fromkeys(metric_keys or default_metric_keys(task, metrics_a)))
    for key in keys:  # a typo in a key fails here, before a thousand resamples are scored
        resolve(metrics_a, key)
        resolve(metrics_b, key)

    def score(ps: list[Prediction]) -> dict[str, Any]:
        scored = task.score(ps)
        return {k: resolve_or_none(scored, k) for k in keys}

    stats = paired_cluster_bootstrap_many(preds_a, preds_b, score, keys, n_resamples=n_resamples,
                                          seed=seed, alpha=alpha)
    ci = {
        key: {"a": s["a"], "b": s["b"], "delta": [s["delta"], s["low"], s["high"]],
              "p_value": s["p_value"], "p_better": s["p_better"]}
        for key, s in stats.items()
    }
    if baselines is None and examples is not None:
        baselines = task.baselines(examples)
    base_values = {name: {key: resolve_or_none(m, key) for key in keys}
                   for name, m in (baselines or {}).items()}
    entry = {
        "task": task.label,
        "kind": task.kind,
        "headline": task.headline,
        "higher_is_better": task.higher_is_better,
        "n": len(preds_a),
        "n_docs": len(cluster_indices(preds_a)),
        "n_resamples": n_resamples,
        "metric_keys": keys,
        "a": metrics_a,
        "b": metrics_b,
        "ci": ci,
        "baselines": base_values,
        "examples": _changed_examples(list(preds_a), preds_b, correct, max_examples),
    }
    return jsonable(entry)
