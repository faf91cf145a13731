"""The comparison report: may model B replace model A? One offline HTML page, and a terminal summary.

The page opens with the gate's verdict in plain words, then one summary table, then a section per task
(side-by-side metrics with 95% CIs, paired deltas, p-values and trivial baselines; bar charts with CI
whiskers; F1 per clause type; confusion heat maps; examples B now gets right or wrong), then the
forgetting panel. Inline CSS and SVG only: the file is mailed around and opened offline. Every string
from the report is escaped.

Report shape (everything but "tasks" optional):
    {"a": {"label", "version", "base_model", ...}, "b": {...}, "created_at", "code_version", "alpha",
     "verdict": {"passed": bool, "checks": [{"name", "passed", "detail", "required"}], "missing": [str]},
     "tasks": [lextune.evals.comparison.compare_task entries],
     "forgetting": {"kl": {"mean" (or "b"), "median", "p90", "max", "n_prompts", "max_kl",
                           "per_prompt": [float]},
                    "mmlu": {"task", "a", "b", "low", "high" (or "ci": {"delta": [d, lo, hi]}), "max_drop"}
                            (or a list of those)}}
The forgetting panel falls back on the metrics of the task of kind "forgetting" (kl, kl_median, kl_max).
"""

from __future__ import annotations

import numbers
from html import escape
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.markup import escape as rich_escape
from rich.table import Table
from rich.text import Text

from lextune.core.atomic import write_text
from lextune.core.svg_plots import histogram_svg
from lextune.evals.comparison import resolve_or_none
from lextune.evals.report_charts import B_COLOR, BASELINE_COLOR, bars_svg, heatmap_svg
from lextune.evals.report_charts import finite_number as _num

# Below this many documents a document-level bootstrap has too few distinct resamples to trust.
FEW_DOCUMENTS = 10
_MAX_CHARS = 300

# Plain names for the metrics a partner meets: (short name, what it means); the raw key is the tooltip.
METRIC_NAMES = {
    "accuracy": ("accuracy", "share of answers that are right"),
    "balanced_accuracy": ("balanced accuracy", "accuracy averaged over the classes: a rare one counts"),
    "macro_f1": ("macro F1", "F1 averaged over the labels"),
    "f1": ("F1", "balance of precision and recall"),
    "precision": ("precision", "share of the model's answers that are right"),
    "recall": ("recall", "share of the right answers the model found"),
    "not_found_accuracy": ("\u201cNot found\u201d accuracy", "clause absent and the model says so"),
    "mean_jaccard": ("word overlap", "mean Jaccard overlap of the quoted words with the gold clause"),
    "kl": ("KL from base", "drift from the base model, nats per token; 0 = identical"),
    "citation_precision": ("citation precision", "cited passages that support the answer"),
    "citation_recall": ("citation recall", "supporting passages that are cited"),
    "exact_match": ("exact match", "answer identical to the gold answer"),
    "overlap_f1": ("quote F1", ("balance of precision and recall; a quote counts when its words overlap the "
                   "gold clause's with token F1 of at least 0.5")),
    "overlap_precision": ("quote precision", "share of the model's quotes that match a gold clause"),
    "overlap_recall": ("quote recall", "share of the gold clauses the model quoted"),
    "exact_f1": ("exact quote F1", "as quote F1, counting only word-for-word quotes"),
    "exact_precision": ("exact quote precision", "share of quotes identical to a gold clause"),
    "exact_recall": ("exact quote recall", "share of gold clauses quoted word for word"),
    "mean_token_f1": ("mean word overlap", "token F1 of the quote with the best gold clause, averaged"),
    "mean_exact_match": ("exact matches", "share of clauses quoted word for word"),
    "aupr": ("AUPR", "area under the precision-recall curve, quotes ranked by the model's confidence"),
    "precision_at_80_recall": ("precision at 80% recall", "precision once 80% of the gold clauses are found"),
    "citation_f1": ("citation F1", "balance of citation precision and recall"),
    "answer_token_f1": ("answer word overlap", "token F1 of the answer with the reference answer"),
    "nli_label_accuracy": ("verdict accuracy", "entailed / contradicted / not mentioned, right"),
    "not_found_on_answerable": ("wrongly \u201cnot found\u201d", "says not found when the answer is there"),
    "invented_citation_rate": ("invented citations", "share of claims citing a passage that does not say so"),
    "invalid_citation_rate": ("invalid citations", "share of claims citing a passage that was not shown"),
    "unsupported_quote_rate": ("unsupported quotes", "share of quotes not found in the passage they cite"),
    "rouge_l": ("ROUGE-L", "longest common word sequence with the reference answer"),
    "kl_max": ("largest KL", "the prompt where B drifts most from the base model, nats per token"),
    "kl_median": ("median KL", "nats per token"),
    "unreadable": ("unreadable answers", "answers that name no label"),
    "answerable": ("answerable", "examples whose answer is in the text"),
    "unanswerable": ("unanswerable", "examples whose answer is not in the text"),
    "quotes_given": ("quotes given", ""),
    "citations_made": ("citations made", ""),
    "citation_claims": ("claims with citations", ""),
    "accuracy_norm": ("accuracy, length-normalised", ("each choice scored per token, so long options are not "
                      "penalised for their length")),
    "n": ("examples", ""),
    "tp": ("right quotes", "true positives"),
    "fp": ("wrong quotes", "false positives: a quote where there is none, or the wrong text"),
    "fn": ("missed clauses", "false negatives: a clause there that the model did not quote"),
    "tn": ("right \u201cnone\u201d", "true negatives"),
    "support": ("examples", ""),
}
KIND_NAMES = {
    "span": "finding clauses in contracts",
    "classification": "classification",
    "multiple_choice": "multiple choice",
    "cited_qa": "questions answered with citations",
    "forgetting": "general behaviour (forgetting)",
}

_CSS = f"""
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1000px; color: #222; line-height: 1.4; }}
h1 {{ margin-bottom: 0.1em; }}
h2 {{ margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }}
.sub {{ color: #666; margin-top: 0; }}
table {{ border-collapse: collapse; margin: 0.8em 0; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f5f5f5; }}
th.nw, td.nw {{ white-space: nowrap; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
.ci {{ color: #777; font-size: 0.85em; }}
th .ci {{ font-weight: normal; }}
table.metrics > tbody > tr > th:first-child, table.metrics > tr > th:first-child {{ min-width: 14em; }}
.warn {{ color: #a50e0e; }}
.pos {{ color: #137333; background: #e6f4ea; }}
.neg {{ color: #a50e0e; background: #fce8e6; }}
.sig {{ font-weight: bold; }}
.base {{ color: {BASELINE_COLOR}; }}
.a {{ color: #5f6368; }}
.b {{ color: {B_COLOR}; }}
.verdict {{ border: 2px solid; border-radius: 6px; padding: 0.6em 1.2em; margin: 1em 0; }}
.verdict.pass {{ border-color: #137333; background: #e6f4ea; }}
.verdict.fail {{ border-color: #a50e0e; background: #fce8e6; }}
.verdict h2 {{ border: none; margin: 0.2em 0; }}
.verdict ul {{ padding-left: 1.2em; }}
.ok {{ color: #137333; font-weight: bold; }}
.bad {{ color: #a50e0e; font-weight: bold; }}
.info {{ color: #777; }}
.note {{ color: #555; font-size: 0.92em; }}
table.examples td {{ white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.9em; max-width: 300px; }}
.maps {{ display: flex; flex-wrap: wrap; gap: 16px; }}
dl.meta {{ display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }}
dl.meta dt {{ font-weight: bold; }}
dl.meta dd {{ margin: 0; font-family: monospace; word-break: break-all; }}
"""


# ---------------------------------------------------------------- formatting


def _e(value: Any) -> str:
    return escape(str(value))


def _pair(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_num(v) is not None for v in value):
        return float(value[0]), float(value[1])
    return None


def metric_name(key: str) -> str:
    """Short plain name: "loglik.balanced_accuracy" -> "balanced accuracy (loglik)"."""
    head, _, last = key.rpartition(".")
    name = METRIC_NAMES.get(last, (last.replace("_", " "), ""))[0]
    return f"{name} ({head.replace('_', ' ')})" if head else name


def metric_help(key: str) -> str:
    return METRIC_NAMES.get(key.rpartition(".")[2], ("", ""))[1]


def _metric_th(key: str, star: str = "") -> str:
    """Table header cell: the short name, its meaning in small print, the raw key as tooltip."""
    explain = metric_help(key)
    small = f'<br/><span class="ci">{_e(explain)}</span>' if explain else ""
    return f'<th title="{_e(key)}">{_e(metric_name(key))}{star}{small}</th>'


def _is_rate(key: str, *values: Any) -> bool:
    """Shown as a percentage: every value in [0, 1], and not a KL or a loss, whose unit is nats."""
    last = key.rpartition(".")[2]
    if last == "kl" or last.startswith("kl_") or "loss" in last:
        return False
    nums = [_num(v) for v in values if v is not None]
    return bool(nums) and all(n is not None and 0 <= n <= 1 for n in nums)


def _fmt(value: Any, rate: bool) -> str:
    if isinstance(value, str):
        return _e(value)
    n = _num(value)
    if n is None:
        return "&#8212;"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return f"{n * 100:.1f}%" if rate else f"{n:.3f}"


def _fmt_delta(value: float, rate: bool) -> str:
    return f"{value * 100:+.1f} pts" if rate else f"{value:+.3f}"


def _fmt_p(p: Any, n_resamples: Any = None) -> str:
    """p-value; at the bootstrap's floor (1/resamples) it is only known to be at most that."""
    n = _num(p)
    if n is None:
        return "&#8212;"
    # Three decimals cannot show less than 0.001, whatever the number of resamples.
    floor = max(1 / n_resamples if _num(n_resamples) else 0.0, 0.001)
    return f"&#8804; {floor:.3f}" if n <= floor + 1e-12 else f"{n:.3f}"


def _clip(text: Any) -> str:
    if isinstance(text, list):
        text = " | ".join(map(str, text))
    text = "" if text is None else str(text)
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + "\u2026"


def _label(report: dict, side: str) -> str:
    info = report.get(side) or {}
    return str(info.get("label") or info.get("version") or side.upper())


# ---------------------------------------------------------------- plain-word readings


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


# ---------------------------------------------------------------- SVG charts


def _verdict_section(report: dict) -> str:
    verdict = report.get("verdict")
    b = _label(report, "b")
    if not verdict:
        return ('<div class="verdict fail"><h2>No verdict</h2><p>The promotion gate was not run on this '
                "comparison; read the tables below.</p></div>")
    passed = bool(verdict.get("passed"))
    checks = verdict.get("checks") or []
    missing = verdict.get("missing") or []
    required = [c for c in checks if c.get("required", True)]
    failed = [c for c in required if not c.get("passed")]
    if passed:
        head = f"Promote: {_e(b)} may replace {_e(_label(report, 'a'))}"
        why = f"It passed all {len(required)} required checks of the promotion gate."
    else:
        head = f"Do not promote {_e(b)}"
        reasons = [f"{len(failed)} of {len(required)} required checks failed"] if failed else []
        if missing:
            reasons.append(f"{len(missing)} required evaluation(s) were not run")
        why = "; ".join(reasons).capitalize() + "." if reasons else "The gate did not pass."
    items = []
    # Failed required checks first (the reasons), then the passed ones, then those for information.
    for c in sorted(checks, key=lambda c: 2 if not c.get("required", True) else 1 if c.get("passed") else 0):
        mark = ('<span class="ok">&#10003;</span>' if c.get("passed") else
                '<span class="bad">&#10007;</span>' if c.get("required", True) else
                '<span class="info">&#8211;</span>')
        note = "" if c.get("required", True) else ' <span class="info">(for information)</span>'
        items.append(f"<li>{mark} <b>{_e(c.get('name', ''))}</b>: {_e(c.get('detail', ''))}{note}</li>")
    items += [f'<li><span class="bad">&#10007;</span> not evaluated: {_e(m)}</li>' for m in missing]
    cls = "pass" if passed else "fail"
    return (f'<div class="verdict {cls}"><h2>{head}</h2><p>{_e(why)}</p><ul>{"".join(items)}</ul></div>')


def _how_to_read(report: dict, alpha: float) -> str:
    return (
        '<p class="note"><b>How to read this.</b> '
        f'<span class="a">A = {_e(_label(report, "a"))}</span> is the reference (the model in use, or the '
        "stock model); "
        f'<span class="b">B = {_e(_label(report, "b"))}</span> the candidate. Each score comes with its 95% '
        "confidence interval (CI): the range the score would likely fall in on another sample of documents "
        "of the same kind. Intervals are computed by resampling whole documents, because questions about the "
        "same contract are not independent. <i>Change</i> is B minus A, in percentage points (pts) for "
        "scores shown as percentages. The <i>p-value</i> is the chance of a change this large arising by "
        f"luck alone; below {alpha:g} the change is called <i>beyond chance</i>. A "
        '<span class="base">trivial baseline</span> is what a predictor with no understanding scores '
        "(e.g. always answering the most common label): a model should clearly beat it.</p>"
    )


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


def _summary_section(report: dict, tasks: list[dict], alpha: float) -> str:
    a, b = _e(_label(report, "a")), _e(_label(report, "b"))
    rows = []
    for t in tasks:
        key = str(t.get("headline"))
        va, vb = resolve_or_none(t.get("a"), key), resolve_or_none(t.get("b"), key)
        rate = _is_rate(key, va, vb)
        ci = (t.get("ci") or {}).get(key) or {}
        word, cls = reading(t, key, alpha)
        rows.append(
            f'<tr><td><a href="#{_anchor(t)}">{_e(t.get("task"))}</a></td>'
            f'<td title="{_e(metric_help(key))}">{_e(metric_name(key))}</td>'
            f"{_value_cell(va, _pair(ci.get('a')), rate)}{_value_cell(vb, _pair(ci.get('b')), rate)}"
            f"{_delta_cell(ci.get('delta'), rate, cls)}"
            f"<td class=\"num\">{_fmt_p(ci.get('p_value'), t.get('n_resamples'))}</td>"
            f'<td class="{cls}">{_e(word)}</td>'
            f'<td class="base">{_e(_best_baseline_text(t, key, rate))}</td></tr>'
        )
    head = (f'<tr><th>task</th><th>headline score</th><th class="a">A: {a}</th><th class="b">B: {b}</th>'
            "<th>change B &#8722; A [95% CI]</th><th class=\"nw\">p-value</th><th>reading</th>"
            '<th class="base" title="the best score of a predictor with no understanding (echo the excerpt, '
            'always Not found, the majority label): B should clearly beat it">best trivial baseline</th></tr>')
    return f"<h2>Summary</h2><table>{head}{''.join(rows)}</table>"


def _anchor(task: dict) -> str:
    return "task-" + "".join(ch if ch.isalnum() else "-" for ch in str(task.get("task")))


def _value_cell(value: Any, ci: tuple[float, float] | None, rate: bool) -> str:
    # The interval on its own line keeps columns narrow enough for the baselines beside them.
    extra = f'<br/><span class="ci">[{_fmt(ci[0], rate)}, {_fmt(ci[1], rate)}]</span>' if ci else ""
    return f'<td class="num">{_fmt(value, rate)}{extra}</td>'


def _delta_cell(delta: Any, rate: bool, cls: str = "") -> str:
    if not (isinstance(delta, (list, tuple)) and delta and _num(delta[0]) is not None):
        return '<td class="num">&#8212;</td>'
    text = _fmt_delta(float(delta[0]), rate)
    if len(delta) == 3 and _num(delta[1]) is not None and _num(delta[2]) is not None:
        text += f'<br/><span class="ci">[{_fmt_delta(delta[1], rate)}, {_fmt_delta(delta[2], rate)}]</span>'
    classes = " ".join(c for c in ("num", cls, "sig" if cls in ("pos", "neg") else "") if c)
    return f'<td class="{classes}">{text}</td>'


def _metric_table(report: dict, t: dict, alpha: float) -> tuple[str, list[dict], list[dict]]:
    """The task's table, and the chart rows of its rates and of its other numbers."""
    keys = list(t.get("metric_keys") or list((t.get("ci") or {}).keys()) or [t.get("headline")])
    baselines = t.get("baselines") or {}
    names = list(baselines)
    head = (f'<tr><th>metric</th><th class="a">A: {_e(_label(report, "a"))}</th>'
            f'<th class="b">B: {_e(_label(report, "b"))}</th><th>change B &#8722; A [95% CI]</th>'
            '<th class="nw">p-value</th>'
            + "".join(f'<th class="base">baseline: {_e(str(n).replace("_", " "))}</th>' for n in names)
            + "</tr>")
    rows, rate_rows, other_rows = [], [], []
    for key in keys:
        va, vb = resolve_or_none(t.get("a"), key), resolve_or_none(t.get("b"), key)
        base_vals = {n: resolve_or_none(baselines.get(n), key) for n in names}
        rate = _is_rate(key, va, vb, *base_vals.values())
        ci = (t.get("ci") or {}).get(key) or {}
        _, cls = reading(t, key, alpha)
        cells = (_value_cell(va, _pair(ci.get("a")), rate) + _value_cell(vb, _pair(ci.get("b")), rate)
                 + _delta_cell(ci.get("delta"), rate, cls)
                 + f'<td class="num">{_fmt_p(ci.get("p_value"), t.get("n_resamples"))}</td>'
                 + "".join(f'<td class="num base">{_fmt(base_vals[n], rate)}</td>' for n in names))
        star = " &#9733;" if key == t.get("headline") else ""
        rows.append(f"<tr>{_metric_th(key, star)}{cells}</tr>")
        chart_row = {"label": metric_name(key), "a": va, "b": vb, "a_ci": _pair(ci.get("a")),
                     "b_ci": _pair(ci.get("b")),
                     "baselines": {n: v for n, v in base_vals.items() if _num(v) is not None}}
        (rate_rows if rate else other_rows).append(chart_row)
    # Counts (n, tp, fp...) have no interval but help a reader judge the sample.
    extra = [k for k, v in (t.get("a") or {}).items()
             if k not in keys and isinstance(v, numbers.Integral) and not isinstance(v, bool)]
    for key in extra:
        va, vb = (t.get("a") or {}).get(key), (t.get("b") or {}).get(key)
        rows.append(f"<tr>{_metric_th(key)}{_value_cell(va, None, False)}"
                    f'{_value_cell(vb, None, False)}<td class="num">&#8212;</td><td class="num">&#8212;</td>'
                    + '<td class="num">&#8212;</td>' * len(names) + "</tr>")
    table = f"<table class=\"metrics\">{head}{''.join(rows)}</table>"
    if t.get("headline") in keys:
        table += '<p class="note">&#9733; the headline score: the one the promotion gate judges.</p>'
    return table, rate_rows, other_rows


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


# How a classification task read the model's answer, for the notes under its charts.
VIEW_NAMES = {"loglik": "the answer choice the model found most likely",
              "generation": "the label named in the model's written answer"}


def _view_note(view: str) -> str:
    return f" Answers: {_e(VIEW_NAMES.get(view, view))}." if view else ""


def _per_type_section(report: dict, t: dict) -> str:
    headline = str(t.get("headline"))
    key, view, measure, fa = _breakdown(t.get("a") or {}, headline)
    key_b, _, _, fb = _breakdown(t.get("b") or {}, headline)
    if not key or key_b != key:
        return ""
    groups = list(dict.fromkeys([*fa, *fb]))
    # Groups where both score nothing would be rows of empty bars: name them in one line instead.
    empty = [g for g in groups if not (fa.get(g) or fb.get(g))]
    groups = [g for g in groups if g not in empty]
    if not groups and not empty:
        return ""
    higher = _higher_is_better(t, measure)
    # B's largest losses first: the groups a reviewer should look at.
    groups.sort(key=lambda g: ((fb.get(g) or 0) - (fa.get(g) or 0)) * (1 if higher else -1))
    rows = [{"label": g, "a": fa.get(g), "b": fb.get(g), "a_ci": None, "b_ci": None, "baselines": {}}
            for g in groups]
    what, name = _BREAKDOWNS[key], metric_name(measure)
    rate = _is_rate(measure, *fa.values(), *fb.values())
    chart = bars_svg(rows, f"A: {_label(report, 'a')}", f"B: {_label(report, 'b')}", rate,
                      f"{t.get('task')}: {name} per {what}")
    zero = (f'<p class="note">{_e(name)} 0 for both models: {_e(", ".join(empty))}.</p>' if empty else "")
    return (f"<h3>{_e(name)} per {what}</h3><p class=\"note\">{_e(name)} of each {what}, those where B fares "
            f"worst against A first. No intervals: each {what} has few examples.{_view_note(view)}</p>"
            f"{chart}{zero}")


def _confusion_section(report: dict, t: dict) -> str:
    maps = []
    view = ""
    for side in ("a", "b"):
        view, conf = _view(t.get(side) or {}, "confusion")
        if (isinstance(conf, dict) and isinstance(conf.get("labels"), list)
                and isinstance(conf.get("matrix"), list)):
            name = f"{side.upper()}: {_label(report, side)}"
            columns = conf.get("columns") if isinstance(conf.get("columns"), list) else conf["labels"]
            svg = heatmap_svg([str(x) for x in conf["labels"]], [str(x) for x in columns], conf["matrix"],
                               f"{t.get('task')}: confusion, {name}")
            if svg:
                maps.append(f'<div><h4 class="{side}">{_e(name)}</h4>{svg}</div>')
    if not maps:
        return ""
    return ("<h3>Which answers get confused</h3><p class=\"note\">Rows: the right answer; columns (slanted "
            "labels): what the model said, with &#8220;(none)&#8221; for an answer that names no label; each "
            "cell counts examples. Blue: right; red: a mistake (darker = larger share of that row)."
            f"{_view_note(view)}</p>"
            f'<div class="maps">{"".join(maps)}</div>')


def _examples_section(report: dict, t: dict) -> str:
    ex = t.get("examples") or {}
    parts = []
    a, b = _label(report, "a"), _label(report, "b")
    for key, what in (("newly_right", "B gets right and A got wrong"),
                      ("newly_wrong", "B gets wrong and A got right")):
        rows = ex.get(key) or []
        total = ex.get(f"n_{key}", len(rows))
        if not total:
            continue
        shown = f" ({len(rows)} shown)" if len(rows) < total else ""
        body = "".join(
            f"<tr><td>{_e(_clip(r.get('id')))}</td><td>{_e(_clip(r.get('gold')))}</td>"
            f"<td>{_e(_clip(r.get('a')))}</td><td>{_e(_clip(r.get('b')))}</td></tr>" for r in rows
        )
        count = "1 example" if total == 1 else f"{_e(total)} examples"
        parts.append(f"<h3>{count} {what}{shown}</h3><table class=\"examples\"><tr><th>example</th>"
                     f'<th>right answer</th><th class="a">A ({_e(a)}) said</th>'
                     f'<th class="b">B ({_e(b)}) said</th>'
                     f"</tr>{body}</table>")
    return "".join(parts)


def _task_section(report: dict, t: dict, alpha: float) -> str:
    kind = str(t.get("kind", ""))
    n, docs = t.get("n"), t.get("n_docs")
    unit = "prompts" if kind == "forgetting" else "examples"
    size = f"{_e(n)} {unit}" if n is not None else ""
    if size and _num(docs) is not None and _num(n) is not None and docs < n:
        size += f" from {_e(docs)} documents (resampled by document)"
        if docs < FEW_DOCUMENTS:
            size += (f' <span class="warn">&#8212; only {_e(docs)} documents: the intervals rest on very few '
                     "independent samples; read them as rough</span>")
    sub = " &#183; ".join(x for x in (_e(KIND_NAMES.get(kind, kind)), size) if x)
    table, rate_rows, other_rows = _metric_table(report, t, alpha)
    a, b = f"A: {_label(report, 'a')}", f"B: {_label(report, 'b')}"
    charts = bars_svg(rate_rows, a, b, True, f"{t.get('task')}: scores with 95% CIs")
    charts += bars_svg(other_rows, a, b, False, f"{t.get('task')}: other measures with 95% CIs")
    return (f'<section id="{_anchor(t)}"><h2>{_e(t.get("task"))}</h2><p class="sub">{sub}</p>{table}{charts}'
            f"{_per_type_section(report, t)}{_confusion_section(report, t)}{_examples_section(report, t)}"
            "</section>")


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


def _forgetting_section(report: dict, tasks: list[dict]) -> str:
    info = report.get("forgetting") or {}
    kl = info.get("kl") if isinstance(info.get("kl"), dict) else {}
    parts = []
    stats = _kl_stats(kl, tasks)
    if stats:
        bound = _num(kl.get("max_kl"))
        n = next((t.get("n") for t in tasks if t.get("kind") == "forgetting"), None)
        cells = "".join(f'<td class="num">{v:.3f}</td>' for _, v in stats)
        head = "".join(f"<th>{_e(name)}</th>" for name, _ in stats)
        parts.append(
            f"<p>How far B&#8217;s answers to {_e(n or 'the')} everyday prompts drift from the base "
            "model&#8217;s, as KL divergence in nats per token (0 = identical; the larger, the less B talks "
            "like the base model)"
            f"{f', against the gate&#8217;s bound of {bound:g}' if bound is not None else ''}.</p>"
            f"<table><tr><th></th>{head}</tr><tr><th>B&#8217;s KL per prompt</th>{cells}</tr></table>")
    per_prompt = [float(v) for v in kl.get("per_prompt") or [] if _num(v) is not None]
    if per_prompt:
        hi = max(per_prompt + [_num(kl.get("max_kl")) or 0.0]) or 1.0
        edges = [hi * i / 12 for i in range(13)]
        counts = [sum(1 for v in per_prompt if edges[i] <= v < edges[i + 1] or (i == 11 and v == hi))
                  for i in range(12)]
        parts.append(histogram_svg(edges, counts, "KL(B \u2016 base), nats per token", "prompts",
                                   title="drift from the base model per prompt"))
    for r in _mmlu_rows(info.get("mmlu")):
        d = r["delta"]
        ci = (f" (95% CI {_fmt_delta(d[1], True)} to {_fmt_delta(d[2], True)})"
              if isinstance(d, list) and len(d) == 3 and all(_num(x) is not None for x in d[1:]) else "")
        allowed = (f"; the gate allows a loss of {r['max_drop'] * 100:.1f} pts"
                   if _num(r["max_drop"]) is not None else "")
        parts.append(f"<p>General knowledge ({_e(r['task'])}): accuracy {_fmt(r['a'], True)} &#8594; "
                     f"{_fmt(r['b'], True)}, {_fmt_delta(r['b'] - r['a'], True)}{ci}{allowed}.</p>")
    if not parts:
        return ""
    note = ('<p class="note">Fine-tuning on contracts can erode what the model knew before. These numbers '
            "watch for it.</p>")
    head = "<h2>Forgetting: does B still behave like the base model?</h2>"
    return f"<section>{head}{note}{''.join(parts)}</section>"


def _meta_section(report: dict) -> str:
    items = []
    for side in ("a", "b"):
        info = report.get(side) or {}
        for key, value in info.items():
            if value not in (None, "") and not isinstance(value, (dict, list)):
                items.append(f"<dt>{side.upper()} {_e(str(key).replace('_', ' '))}</dt><dd>{_e(value)}</dd>")
    for key in ("created_at", "code_version"):
        if report.get(key):
            items.append(f"<dt>{_e(key.replace('_', ' '))}</dt><dd>{_e(report[key])}</dd>")
    return f'<h2>Provenance</h2><dl class="meta">{"".join(items)}</dl>' if items else ""


def render_comparison_html(report: dict) -> str:
    """The comparison page (shape in the module docstring); one self-contained, escaped HTML file."""
    tasks = [t for t in report.get("tasks") or [] if isinstance(t, dict)]
    alpha = _num(report.get("alpha")) or 0.05
    a, b = _label(report, "a"), _label(report, "b")
    title = f"{b} against {a}"
    when = f"<p class=\"sub\">{_e(report['created_at'])}</p>" if report.get("created_at") else ""
    scored = [t for t in tasks if t.get("kind") != "forgetting"]
    body = [f"<h1>{_e(title)}</h1>{when}", _verdict_section(report), _how_to_read(report, alpha)]
    if tasks:
        body.append(_summary_section(report, tasks, alpha))
    body += [_task_section(report, t, alpha) for t in scored]
    body.append(_forgetting_section(report, tasks))
    body += [_task_section(report, t, alpha) for t in tasks if t.get("kind") == "forgetting"]
    body.append(_meta_section(report))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>"
            + "\n".join(p for p in body if p) + "</body></html>\n")


def write_comparison_html(report: dict, path: Path) -> None:
    """Render and write atomically, readable by others (a report is shared)."""
    write_text(Path(path), render_comparison_html(report), mode=0o644)


# ---------------------------------------------------------------- terminal


def _plain(value: Any, rate: bool) -> str:
    n = _num(value)
    if n is None:
        return "-"
    return f"{n * 100:.1f}%" if rate else f"{n:.3f}"


def render_comparison_terminal(report: dict) -> Group:
    """Verdict, one row per task (headline, A, B, change with CI, p-value) and the gate's checks."""
    alpha = _num(report.get("alpha")) or 0.05
    a, b = _label(report, "a"), _label(report, "b")
    verdict = report.get("verdict")
    if verdict is None:
        head = Text("no promotion gate was run", style="bold yellow")
    elif verdict.get("passed"):
        head = Text(f"PROMOTE: {b} may replace {a}", style="bold green")
    else:
        head = Text(f"DO NOT PROMOTE {b}", style="bold red")
    tasks = Table("task", "headline", f"A: {rich_escape(a)}", f"B: {rich_escape(b)}", "change [95% CI]",
                  "p", "reading", "best trivial baseline", title="B against A")
    for t in report.get("tasks") or []:
        key = str(t.get("headline"))
        va, vb = resolve_or_none(t.get("a"), key), resolve_or_none(t.get("b"), key)
        rate = _is_rate(key, va, vb)
        ci = (t.get("ci") or {}).get(key) or {}
        d = ci.get("delta") or [None, None, None]
        change = "-"
        if _num(d[0]) is not None:
            change = _fmt_delta(d[0], rate)
            if len(d) == 3 and _num(d[1]) is not None and _num(d[2]) is not None:
                change += f" [{_fmt_delta(d[1], rate)}, {_fmt_delta(d[2], rate)}]"
        word, cls = reading(t, key, alpha)
        style = {"pos": "green", "neg": "red"}.get(cls, "")
        p = _num(ci.get("p_value"))
        # Text cells: no markup parsing, so "[+1.0 pts, ...]" and task names print as they are.
        tasks.add_row(Text(str(t.get("task"))), Text(key), Text(_plain(va, rate)), Text(_plain(vb, rate)),
                      Text(change), Text("-" if p is None else ("<=0.001" if p <= 0.001 else f"{p:.3f}")),
                      Text(word, style=style), Text(_best_baseline_text(t, key, rate)))
    parts: list = [head, tasks]
    if verdict:
        checks = Table("", "check", "detail", title="promotion gate")
        for c in verdict.get("checks") or []:
            mark = "ok" if c.get("passed") else ("FAIL" if c.get("required", True) else "-")
            checks.add_row(mark, Text(str(c.get("name", ""))), Text(str(c.get("detail", ""))))
        for m in verdict.get("missing") or []:
            checks.add_row("FAIL", "not evaluated", Text(str(m)))
        parts.append(checks)
    return Group(*parts)
