"""The comparison report in a terminal: the verdict, one row per task, and the gate's checks.

The short form of the HTML page (lextune.evals.report_compare) for `lextune eval compare` and the
demo; it reads the report through the same helpers, so both show the same readings and baselines.
"""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape as rich_escape
from rich.table import Table
from rich.text import Text

from lextune.evals.comparison import resolve_or_none
from lextune.evals.report_charts import finite_number as _num
from lextune.evals.report_compare_data import _best_baseline_text, reading
from lextune.evals.report_compare_format import _fmt_delta, _is_rate, _label, _plain


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
