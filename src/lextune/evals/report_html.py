"""Render a stock-vs-tuned evaluation report as one self-contained HTML page (inline CSS and SVG only)."""

from __future__ import annotations

import math
import numbers
from html import escape
from pathlib import Path
from typing import Any

from lextune.core.atomic import write_text
from lextune.core.svg_plots import STOCK_COLOR, TUNED_COLOR, grouped_hbar_svg, line_plot_svg

# Counts are shown in the tables but kept off the 0..1 bar charts.
_COUNT_METRICS = {"n", "tp", "fp", "fn", "tn", "support"}
# For these a rise is a regression, so a positive delta is coloured red.
_LOWER_IS_BETTER = {"fp", "fn"}
_MAX_EXAMPLE_CHARS = 800

_CSS = f"""
body {{ font-family: sans-serif; margin: 2em auto; max-width: 980px; color: #222; }}
h1 {{ margin-bottom: 0.2em; }}
table {{ border-collapse: collapse; margin: 0.8em 0; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f5f5f5; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
.ci {{ color: #777; font-size: 0.85em; }}
.pos {{ color: #137333; background: #e6f4ea; }}
.neg {{ color: #a50e0e; background: #fce8e6; }}
.sig {{ font-weight: bold; }}
.stock {{ color: {STOCK_COLOR}; }}
.tuned {{ color: {TUNED_COLOR}; }}
table.examples td {{ white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.9em; max-width: 320px; }}
dl.meta {{ display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }}
dl.meta dt {{ font-weight: bold; }}
dl.meta dd {{ margin: 0; font-family: monospace; word-break: break-all; }}
"""


def _e(value: Any) -> str:
    return escape(str(value))


def _is_num(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    if value is None:
        return "&#8212;"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if _is_num(value):
        return f"{float(value):.3f}" if math.isfinite(value) else _e(value)
    return _e(value)


def _interval(pair: Any) -> tuple[float, float] | None:
    """A [lo, hi] CI from the report, or None when it is missing or not two finite numbers."""
    if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(_is_num(v) and math.isfinite(v) for v in pair):
        return float(pair[0]), float(pair[1])
    return None


def _metric_names(stock: dict, tuned: dict) -> list[str]:
    return list(dict.fromkeys([*stock, *tuned]))


Delta = tuple[float, float | None, float | None]


def _delta(metric: str, stock_value: Any, tuned_value: Any, ci: dict) -> Delta | None:
    """(delta, lo, hi) from the report's paired CI, else the plain difference without an interval."""
    given = ci.get("delta")
    if isinstance(given, (list, tuple)) and len(given) == 3 and all(_is_num(v) for v in given):
        return float(given[0]), float(given[1]), float(given[2])
    if _is_num(stock_value) and _is_num(tuned_value) and metric != "n":
        return tuned_value - stock_value, None, None  # ints stay ints so count deltas print as "+4"
    return None


def _delta_cell(metric: str, delta: Delta | None) -> str:
    if delta is None or not math.isfinite(delta[0]):
        return '<td class="num">&#8212;</td>'
    d, lo, hi = delta
    better = -d if metric in _LOWER_IS_BETTER else d
    classes = ["num"] + (["pos"] if better > 0 else ["neg"] if better < 0 else [])
    text = f"{int(d):+d}" if isinstance(d, numbers.Integral) else f"{d:+.3f}"
    if lo is not None and hi is not None:
        text += f' <span class="ci">[{lo:+.3f}, {hi:+.3f}]</span>'
        # An interval that excludes zero is the evidence the report exists to show.
        if lo > 0 or hi < 0:
            classes.append("sig")
    return f'<td class="{" ".join(classes)}">{text}</td>'


def _value_cell(value: Any, ci: tuple[float, float] | None) -> str:
    extra = f' <span class="ci">[{ci[0]:.3f}, {ci[1]:.3f}]</span>' if ci else ""
    return f'<td class="num">{_fmt(value)}{extra}</td>'


def _is_rate(metric: str, *values: Any) -> bool:
    return metric not in _COUNT_METRICS and all(_is_num(v) and math.isfinite(v) and 0 <= v <= 1 for v in values)


def _task_section(name: str, task: dict) -> str:
    stock, tuned, cis = task.get("stock") or {}, task.get("tuned") or {}, task.get("ci") or {}
    rows, chart_metrics = [], []
    for metric in _metric_names(stock, tuned):
        s_val, t_val, ci = stock.get(metric), tuned.get(metric), cis.get(metric) or {}
        if isinstance(s_val, dict) or isinstance(t_val, dict):
            continue  # nested breakdowns (per-label dicts) have their own chart below
        cells = (
            _value_cell(s_val, _interval(ci.get("stock"))),
            _value_cell(t_val, _interval(ci.get("tuned"))),
            _delta_cell(metric, _delta(metric, s_val, t_val, ci)),
        )
        rows.append(f"<tr><th>{_e(metric)}</th>{''.join(cells)}</tr>")
        if _is_rate(metric, s_val, t_val):
            chart_metrics.append(metric)
    parts = [f"<section><h2>{_e(name)}</h2>"]
    if rows:
        parts.append(
            '<table><tr><th>metric</th><th class="stock">stock</th><th class="tuned">tuned</th>'
            "<th>delta (tuned &#8722; stock), 95% CI</th></tr>" + "".join(rows) + "</table>"
        )
    if chart_metrics:
        parts.append(
            grouped_hbar_svg(
                chart_metrics,
                [float(stock[m]) for m in chart_metrics],
                [float(tuned[m]) for m in chart_metrics],
                [_interval((cis.get(m) or {}).get("stock")) for m in chart_metrics],
                [_interval((cis.get(m) or {}).get("tuned")) for m in chart_metrics],
                title=f"{name}: stock vs tuned",
            )
        )
    parts.append(_per_label_chart(name, task.get("per_label") or {}))
    parts.append("</section>")
    return "".join(parts)


def _label_f1(scores: dict, label: str) -> float | None:
    value = (scores.get(label) or {}).get("f1")
    return float(value) if _is_num(value) else None


def _per_label_chart(name: str, per_label: dict) -> str:
    stock, tuned = per_label.get("stock") or {}, per_label.get("tuned") or {}
    labels = _metric_names(stock, tuned)
    if not labels:
        return ""
    return f"<h3>{_e(name)}: F1 per label</h3>" + grouped_hbar_svg(
        labels,
        [_label_f1(stock, label) for label in labels],
        [_label_f1(tuned, label) for label in labels],
        title=f"{name}: F1 per label",
    )


def _meta_section(report: dict) -> str:
    dataset = report.get("dataset") or {}
    fields = [
        ("created", report.get("created_at")),
        ("base model", report.get("base_model")),
        ("model version", report.get("model_version")),
        ("dataset", dataset.get("id")),
        ("dataset sha256", dataset.get("sha256")),
        ("dataset path", dataset.get("path")),
        ("machine", report.get("machine")),
    ]
    items = "".join(f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>" for key, value in fields if value not in (None, ""))
    return f'<dl class="meta">{items}</dl>' if items else ""


def _training_section(training: dict) -> str:
    facts = []
    if _is_num(training.get("rows")):
        facts.append(f"{int(training['rows'])} training rows")
    if _is_num(training.get("seconds")):
        facts.append(f"{float(training['seconds']):.1f} s")
    points = training.get("loss_curve") or []
    curve = [p for p in points if isinstance(p, (list, tuple)) and len(p) == 2 and all(map(_is_num, p))]
    plot = line_plot_svg(curve, "step", "loss", title="training loss") if curve else ""
    if not facts and not plot:
        return ""
    summary = f"<p>{_e(', '.join(facts))}</p>" if facts else ""
    return f"<section><h2>Training</h2>{summary}{plot}</section>"


def _clip(text: Any) -> str:
    text = "" if text is None else str(text)
    # Whole contracts would bury the table; the head of the input is enough to recognise the example.
    return text if len(text) <= _MAX_EXAMPLE_CHARS else text[:_MAX_EXAMPLE_CHARS] + "\u2026"


def _examples_section(examples: list[dict]) -> str:
    columns = ("task", "input", "gold", "stock", "tuned")
    head = "".join(f"<th>{name}</th>" for name in columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(_clip(example.get(col)))}</td>" for col in columns) + "</tr>" for example in examples
    )
    return f'<section><h2>Examples</h2><table class="examples"><tr>{head}</tr>{rows}</table></section>'


def render_report(report: dict) -> str:
    """Return a self-contained HTML page comparing the stock and tuned model; all report text is escaped.

    Report shape (only "title" and "tasks" are required; missing parts are left out of the page):
        {"title": str, "created_at": str, "base_model": str, "model_version": str,
         "dataset": {"id": str, "sha256": str, "path": str}, "machine": str,
         "tasks": {task_name: {
             "stock": {metric: value}, "tuned": {metric: value},
             "ci": {metric: {"stock": [lo, hi], "tuned": [lo, hi], "delta": [d, lo, hi]}},
             "per_label": {"stock": {label: {"f1": float}}, "tuned": {label: {"f1": float}}}}},
         "training": {"loss_curve": [[step, loss], ...], "seconds": float, "rows": int},
         "examples": [{"task", "input", "gold", "stock", "tuned"}, ...]}
    Metrics in [0, 1] (not counts such as n/tp/fp/fn) are also drawn as bars with CI whiskers.
    """
    body = [f"<h1>{_e(report['title'])}</h1>", _meta_section(report)]
    body += [_task_section(str(name), task or {}) for name, task in report["tasks"].items()]
    body.append(_training_section(report.get("training") or {}))
    if report.get("examples"):
        body.append(_examples_section(report["examples"]))
    # Written as well-formed XHTML-style markup so the page (and each SVG) also parses as XML.
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
        f"<title>{_e(report['title'])}</title><style>{_CSS}</style></head>\n<body>"
        + "\n".join(part for part in body if part)
        + "</body></html>\n"
    )


def write_report_html(report: dict, path: Path) -> None:
    """Render `report` and write it to `path` atomically, readable by others (a report is shared)."""
    write_text(Path(path), render_report(report), mode=0o644)
