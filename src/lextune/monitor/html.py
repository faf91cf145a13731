"""The drift report as one offline HTML page: inline CSS and SVG (lextune's svg_plots), no script, no URL."""

from __future__ import annotations

from html import escape
from typing import Any

from lextune.core.svg_plots import SERIES_COLORS, line_plot_svg, stacked_hbar_svg

NEW_COLOR = "#d93025"
_CSS = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}.alert{background:#fce8e6;border-left:4px solid #d93025;"
        "padding:6px 10px;margin:4px 0}.ok{background:#e6f4ea;padding:6px 10px}.note{color:#555}")

# (key, label, format) of the weekly metrics, in the order of the table and the charts.
METRICS = (("answers", "answers", "{:g}"), ("input_chars_mean", "mean input (chars)", "{:g}"),
           ("input_tokens_mean", "mean prompt (tokens)", "{:g}"), ("output_tokens_mean", "mean output (tokens)", "{:g}"),
           ("refusal_rate", "refusal rate", "{:.1%}"), ("not_in_documents_rate", "not in the documents", "{:.1%}"),
           ("correction_rate", "reviewer correction rate", "{:.1%}"), ("latency_p50_ms", "latency p50 (ms)", "{:g}"),
           ("latency_p95_ms", "latency p95 (ms)", "{:g}"), ("topic_js", "topic shift (JS, bits)", "{:.3f}"),
           ("novel_topic_share", "questions unlike earlier topics", "{:.1%}"))


def _fmt(value: Any, fmt: str) -> str:
    return "" if value is None else escape(fmt.format(value))


def _charts(report: dict[str, Any]) -> list[str]:
    weeks = report["weeks"]
    x_label = f"week (1 = {weeks[0]['week']}, {len(weeks)} = {weeks[-1]['week']})"
    out = []
    for key, label, _ in METRICS[1:]:
        points = [(i + 1, w[key]) for i, w in enumerate(weeks) if isinstance(w.get(key), int | float)]
        if svg := line_plot_svg(points, x_label=x_label, y_label=label, title=label):
            out.append(f"<h3>{escape(label)}</h3>{svg}")
    mixed = [w for w in weeks if w.get("topic_mixture")]
    if mixed:
        k = len(mixed[0]["topic_mixture"]) - 1
        series = {f"topic {j + 1}": [w["topic_mixture"][j] for w in mixed] for j in range(k)}
        series["new"] = [w["topic_mixture"][k] for w in mixed]
        colors = [SERIES_COLORS[j % 5] if j < k else NEW_COLOR for j in range(k + 1)]
        svg = stacked_hbar_svg([w["week"] for w in mixed], series, title="topic mixture per week",
                               colors=colors, value_fmt="{:.2f}")
        out.append("<h3>topic mixture (clusters of the earlier weeks' questions; red: unlike all of them)</h3>" + svg)
    return out


def render_html(report: dict[str, Any]) -> str:
    weeks = report["weeks"]
    head = "".join(f"<th>{escape(w['week'])}</th>" for w in weeks) + "<th>earlier weeks</th>"
    rows = []
    for key, label, fmt in METRICS:
        cells = "".join(f"<td>{_fmt(w.get(key), fmt)}</td>" for w in weeks)
        rows.append(f"<tr><td>{escape(label)}</td>{cells}<td>{_fmt(report['reference'].get(key), fmt)}</td></tr>")
    alerts = "".join(f'<div class="alert">{escape(a["message"])}'
                     + ("" if a.get("new", True) else " <small>(raised already, not again)</small>") + "</div>"
                     for a in report["alerts"])
    alerts = alerts or f'<div class="ok">no alert for {escape(report["latest_week"])}</div>'
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in report["notes"])
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>lextune drift {escape(report['latest_week'])}</title><style>{_CSS}</style></head><body>"
            f"<h1>Served model drift: {escape(report['latest_week'])}</h1>"
            f"<p>Generated {escape(report['generated_at'][:19])} UTC. The latest week is compared with the earlier "
            f"weeks pooled ({escape(', '.join(report['reference_weeks']) or 'none')}).</p>"
            f"<h2>Alerts</h2>{alerts}{notes}<h2>Week by week</h2><table><tr><th>metric</th>{head}</tr>"
            + "".join(rows) + "</table><h2>Charts</h2>" + "".join(_charts(report)) + "</body></html>")
