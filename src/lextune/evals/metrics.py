"""Scoring for legal eval tasks: label matching, classification and clause-quote scores, bootstrap CIs.

Pure functions over plain lists (no torch) so scores can be recomputed from saved predictions.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

import numpy as np

NOT_FOUND = "Not found"

# Typographic quotes and dashes models like to wrap answers in, on top of ASCII punctuation.
_STRIP_CHARS = string.punctuation + string.whitespace + "\u2018\u2019\u201c\u201d\u00ab\u00bb\u2013\u2014\u2026"
_WORD_RE = re.compile(r"\w+")


def normalize_label(text: str) -> str:
    """Lowercase, collapse runs of whitespace and strip surrounding punctuation and quotes."""
    return " ".join(text.lower().split()).strip(_STRIP_CHARS)


def _word_pattern(needle: str) -> re.Pattern[str]:
    # Word boundaries so label "no" is not found inside "not sure" or "none".
    return re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)")


def match_label(generated: str, labels: list[str]) -> str | None:
    """Map a model's free-text answer to one of `labels`, or None when no label can be read from it.

    Exact normalized match first, then a label at the start of the answer, then the longest label anywhere.
    """
    answer = normalize_label(generated)
    normalized = [(normalize_label(label), label) for label in labels]
    normalized = [(norm, label) for norm, label in normalized if norm]
    for norm, label in normalized:
        if answer == norm:
            return label
    # Longest first: when "non-compete" and "non-compete exception" both prefix the answer, the longer is meant.
    by_length = sorted(normalized, key=lambda pair: len(pair[0]), reverse=True)
    for norm, label in by_length:
        if _word_pattern(norm).match(answer):
            return label
    for norm, label in by_length:
        if _word_pattern(norm).search(answer):
            return label
    return None


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def _f1(precision: float, recall: float) -> float:
    return _safe_div(2 * precision * recall, precision + recall)


def classification_scores(gold: list[str], pred: list[str | None], labels: list[str]) -> dict:
    """Accuracy, macro-F1 over `labels` and per-label precision/recall/F1/support; None predictions are wrong."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    per_label: dict[str, dict[str, float | int]] = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred) if g != label and p == label)
        support = sum(1 for g in gold if g == label)
        precision = _safe_div(tp, tp + fp)
        recall = _safe_div(tp, support)
        per_label[label] = {"precision": precision, "recall": recall, "f1": _f1(precision, recall), "support": support}
    correct = sum(1 for g, p in zip(gold, pred) if p is not None and g == p)
    macro_f1 = float(np.mean([s["f1"] for s in per_label.values()])) if per_label else 0.0
    return {"accuracy": _safe_div(correct, len(gold)), "macro_f1": macro_f1, "per_label": per_label, "n": len(gold)}


def is_not_found(text: str) -> bool:
    """True when the answer says the clause is absent (normalized text starts with "not found")."""
    return normalize_label(text).startswith("not found")


def jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the lowercase word-token sets of `a` and `b` (1.0 when both are empty)."""
    set_a, set_b = set(_WORD_RE.findall(a.lower())), set(_WORD_RE.findall(b.lower()))
    if not set_a and not set_b:
        return 1.0
    return len(set_a & set_b) / len(set_a | set_b)


def quote_scores(gold: list[str], pred: list[str], threshold: float = 0.5) -> dict:
    """CUAD-style clause-quote scores: a quote is right when its Jaccard with the gold clause >= threshold.

    A blank prediction counts as "Not found"; a wrong quote on a gold-clause row is both an fp and an fn.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    tp = fp = fn = 0
    not_found_rows = not_found_hits = 0
    overlaps: list[float] = []
    for g, p in zip(gold, pred):
        pred_absent = is_not_found(p) or not p.strip()
        if is_not_found(g):
            not_found_rows += 1
            if pred_absent:
                not_found_hits += 1
            else:
                fp += 1
            continue
        overlap = 0.0 if pred_absent else jaccard(g, p)
        overlaps.append(overlap)
        if pred_absent:
            fn += 1
        elif overlap >= threshold:
            tp += 1
        else:
            fp += 1
            fn += 1
    precision, recall = _safe_div(tp, tp + fp), _safe_div(tp, tp + fn)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "not_found_accuracy": _safe_div(not_found_hits, not_found_rows),
        "mean_jaccard": float(np.mean(overlaps)) if overlaps else 0.0,
        "n": len(gold),
    }


def _resample_indices(n_items: int, n_resamples: int, seed: int) -> np.ndarray:
    if n_items <= 0:
        raise ValueError("bootstrap needs at least one item")
    if n_resamples <= 0:
        raise ValueError("bootstrap needs at least one resample")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_items, size=(n_resamples, n_items))


def bootstrap_ci(
    per_item_fn: Callable[[np.ndarray], float],
    n_items: int,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval; `per_item_fn(indices)` recomputes the metric on a resample."""
    stats = np.array([per_item_fn(idx) for idx in _resample_indices(n_items, n_resamples, seed)], dtype=float)
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_bootstrap_delta(
    fn_a: Callable[[np.ndarray], float],
    fn_b: Callable[[np.ndarray], float],
    n_items: int,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """Metric difference b - a with a paired percentile CI; p_better is the fraction of resamples where b > a.

    Both systems are scored on the same resampled items, so per-item difficulty cancels out of the delta.
    """
    full = np.arange(n_items)
    deltas = np.array(
        [fn_b(idx) - fn_a(idx) for idx in _resample_indices(n_items, n_resamples, seed)],
        dtype=float,
    )
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    return {
        "delta": float(fn_b(full) - fn_a(full)),
        "low": float(low),
        "high": float(high),
        "p_better": float(np.mean(deltas > 0)),
    }
