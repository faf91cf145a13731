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

This module assembles the page; the parts live beside it:
    report_compare_names     plain names of metrics, task kinds and answer views
    report_compare_format    escaping, number formats and table cells
    report_compare_data      readings, baselines and breakdowns picked out of the report
    report_compare_plots     per-group bars, confusion maps and the KL histogram
    report_compare_task      one task's section
    report_compare_sections  verdict, how to read, summary, forgetting, provenance
    report_compare_terminal  the terminal summary
Their public names are re-exported here, the module other code imports.
"""

from __future__ import annotations

from pathlib import Path

from lextune.core.atomic import write_text
from lextune.evals.report_charts import B_COLOR, BASELINE_COLOR
from lextune.evals.report_charts import finite_number as _num
from lextune.evals.report_compare_data import best_baseline, reading
from lextune.evals.report_compare_format import _e, _label
from lextune.evals.report_compare_names import KIND_NAMES, METRIC_NAMES, VIEW_NAMES, metric_help, metric_name
from lextune.evals.report_compare_sections import (
    _forgetting_section,
    _how_to_read,
    _meta_section,
    _summary_section,
    _verdict_section,
)
from lextune.evals.report_compare_task import FEW_DOCUMENTS, _task_section
from lextune.evals.report_compare_terminal import render_comparison_terminal

__all__ = [
    "FEW_DOCUMENTS",
    "KIND_NAMES",
    "METRIC_NAMES",
    "VIEW_NAMES",
    "best_baseline",
    "metric_help",
    "metric_name",
    "reading",
    "render_comparison_html",
    "render_comparison_terminal",
    "write_comparison_html",
]

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
