"""One task's section of the comparison report: its metrics table, bar charts, breakdowns and examples.

A task section shows every metric of A and B side by side with 95% CIs, the paired change and its
p-value, and the trivial baselines, then the figures (lextune.evals.report_compare_plots) and the
examples B now gets right or wrong.
"""

from __future__ import annotations

import numbers

from lextune.evals.comparison import resolve_or_none
from lextune.evals.report_charts import bars_svg
from lextune.evals.report_charts import finite_number as _num
from lextune.evals.report_compare_data import reading
from lextune.evals.report_compare_format import (
    _anchor,
    _clip,
    _delta_cell,
    _e,
    _fmt,
    _fmt_p,
    _is_rate,
    _label,
    _metric_th,
    _pair,
    _value_cell,
)
from lextune.evals.report_compare_names import KIND_NAMES, metric_name
from lextune.evals.report_compare_plots import _confusion_section, _per_type_section

# Below this many documents a document-level bootstrap has too few distinct resamples to trust.
FEW_DOCUMENTS = 10


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
