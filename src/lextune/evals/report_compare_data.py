"""What the comparison report reads out of a report dict, before any HTML: readings, baselines, breakdowns.

The report's shape is documented in lextune.evals.report_compare; the functions here pick values out
of it (tolerating missing keys, as every part but "tasks" is optional) and judge them in plain words
("better beyond chance"), so that the HTML page and the terminal summary agree on every verdict.
"""

from __future__ import annotations

from typing import Any

from lextune.evals.comparison import resolve_or_none
from lextune.evals.report_charts import finite_number as _num
from lextune.evals.report_compare_format import _plain

# Metrics where a rise is bad even in a task where higher is better (cited QA's error rates).
_LOWER_IS_BETTER = {"invented_citation_rate", "invalid_citation_rate", "unsupported_quote_rate",
                    "not_found_on_answerable", "unreadable", "fp", "fn", "false_positive", "false_negative"}


def _higher_is_better(entry: dict, key: str) -> bool:
    last = key.rpartition(".")[2]
    if last in _LOWER_IS_BETTER or last == "kl" or last.startswith("kl_"):
        return False
    return bool(entry.get("higher_is_better", True)) if key == entry.get("headline") else True


def reading(entry: dict, key: str, alpha: float) -> tuple[str, str]:
    """("better beyond chance" | "worse beyond chance" | "no clear change", css class) for B vs A."""
    ci = (entry.get("ci") or {}).get(key) or {}
    delta, p = (ci.get("delta") or [None])[0], _num(ci.get("p_value"))
    if _num(delta) is None or p is None:
        return "not tested", "info"
    if p >= alpha or delta == 0:
        return "no clear change", ""
    if entry.get("kind") == "forgetting":  # judged against the gate's bound, not against A
        return ("more drift than A" if delta > 0 else "less drift than A"), ""
    better = delta > 0 if _higher_is_better(entry, key) else delta < 0
    return ("better beyond chance", "pos") if better else ("worse beyond chance", "neg")


def best_baseline(t: dict, key: str) -> tuple[str, float] | None:
    """The trivial baseline that scores best on `key` (lowest when lower is better), or None."""
    vals = [(name, _num(resolve_or_none(m, key))) for name, m in (t.get("baselines") or {}).items()
            if isinstance(m, dict)]
    vals = [(n, v) for n, v in vals if v is not None]
    if not vals:
        return None
    pick = max if _higher_is_better(t, key) else min
    return pick(vals, key=lambda nv: nv[1])


def _best_baseline_text(t: dict, key: str, rate: bool) -> str:
    best = best_baseline(t, key)
    if best is None:
        return "—"
    name, value = best
    vb = _num(resolve_or_none(t.get("b"), key))
    beaten = vb is not None and (vb > value if _higher_is_better(t, key) else vb < value)
    return f"{_plain(value, rate)} ({name.replace('_', ' ')}){'' if beaten else ' — not beaten by B'}"


# Breakdowns a task's metrics may carry, with what each is a breakdown of.
_BREAKDOWNS = {"per_type": "clause type", "per_clause_type": "clause type", "per_label": "label",
               "per_subject": "subject", "per_task": "task", "kl_by_category": "prompt category"}


def _view(metrics: dict, name: str) -> tuple[str, Any]:
    """(where, value) of `name` at the top of the metrics, else in the headline view ("loglik")."""
    if name in metrics:
        return "", metrics[name]
    view = metrics.get("headline_view")
    if isinstance(view, str) and isinstance(metrics.get(view), dict) and name in metrics[view]:
        return view, metrics[view][name]
    return "", None


def _breakdown(metrics: dict, headline: str) -> tuple[str, str, str, dict[str, float | None]]:
    """(breakdown key, view, measure, {group: value}) of the first breakdown the metrics have.

    The measure is the task's headline when the groups report it, else F1, else accuracy.
    """
    for key in _BREAKDOWNS:
        view, block = _view(metrics, key)
        if not isinstance(block, dict) or not block:
            continue
        if all(_num(v) is not None for v in block.values()):
            measure = key.split("_by_")[0] if "_by_" in key else headline
            return key, view, measure, {str(k): _num(v) for k, v in block.items()}
        sub = [v for v in block.values() if isinstance(v, dict)]
        measure = next((m for m in (headline.rpartition(".")[2], "f1", "overlap_f1", "accuracy")
                        if any(m in v for v in sub)), None)
        if measure:
            return key, view, measure, {str(k): _num(v.get(measure)) if isinstance(v, dict) else None
                                        for k, v in block.items()}
    return "", "", "", {}


def _mmlu_rows(info: Any) -> list[dict]:
    """The panel's MMLU entries ({"task", "a", "b", "ci": {"delta": [d, lo, hi]}, "max_drop"}) with numbers."""
    out = []
    for r in info or []:
        a, b = _num(r.get("a")), _num(r.get("b"))
        if a is not None and b is not None:
            out.append({"task": r.get("task", "MMLU"), "a": a, "b": b, "delta": (r.get("ci") or {}).get("delta"),
                        "max_drop": r.get("max_drop")})
    return out


def _kl_stats(kl: dict, tasks: list[dict]) -> list[tuple[str, float]]:
    """B's KL summary: the mean from the panel, median and largest from the forgetting task's metrics."""
    b = next((t.get("b") or {} for t in tasks if t.get("kind") == "forgetting"), {})
    stats = [("mean", _num(kl.get("b"))), ("median", _num(b.get("kl_median"))), ("largest", _num(b.get("kl_max")))]
    return [(name, v) for name, v in stats if v is not None]
