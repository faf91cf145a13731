"""The comparison report's figures beyond the per-task bar charts: scores per group, confusion maps, KL spread.

Each function returns an HTML fragment (heading, note, inline SVG) or "" when the report lacks the
data, so a section simply concatenates them. The SVG drawing itself lives in lextune.evals.report_charts
and lextune.core.svg_plots; this module decides what to draw from a report.
"""

from __future__ import annotations

from lextune.core.svg_plots import histogram_svg
from lextune.evals.report_charts import bars_svg, heatmap_svg
from lextune.evals.report_compare_data import _BREAKDOWNS, _breakdown, _higher_is_better, _view
from lextune.evals.report_compare_format import _e, _is_rate, _label, _view_note
from lextune.evals.report_compare_names import metric_name


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


def _kl_histogram(per_prompt: list[float], max_kl: float | None) -> str:
    """B's KL per prompt in 12 equal bins up to the largest value or the gate's bound, whichever is larger."""
    hi = max(per_prompt + [max_kl or 0.0]) or 1.0
    edges = [hi * i / 12 for i in range(13)]
    counts = [sum(1 for v in per_prompt if edges[i] <= v < edges[i + 1] or (i == 11 and v == hi))
              for i in range(12)]
    return histogram_svg(edges, counts, "KL(B \u2016 base), nats per token", "prompts",
                         title="drift from the base model per prompt")
