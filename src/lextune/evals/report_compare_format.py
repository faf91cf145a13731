"""Formatting for the comparison report: escaping, numbers, percentages, p-values and table cells.

Shared by the HTML sections and the terminal summary (lextune.evals.report_compare), so that a
score reads the same everywhere. Text from the report reaches the HTML only through `_e`, which
escapes it.
"""

from __future__ import annotations

import numbers
from html import escape
from typing import Any

from lextune.evals.report_charts import finite_number as _num
from lextune.evals.report_compare_names import VIEW_NAMES, metric_help, metric_name

_MAX_CHARS = 300


def _e(value: Any) -> str:
    return escape(str(value))


def _pair(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_num(v) is not None for v in value):
        return float(value[0]), float(value[1])
    return None


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


def _plain(value: Any, rate: bool) -> str:
    n = _num(value)
    if n is None:
        return "-"
    return f"{n * 100:.1f}%" if rate else f"{n:.3f}"


def _clip(text: Any) -> str:
    if isinstance(text, list):
        text = " | ".join(map(str, text))
    text = "" if text is None else str(text)
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + "\u2026"


def _label(report: dict, side: str) -> str:
    info = report.get(side) or {}
    return str(info.get("label") or info.get("version") or side.upper())


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


def _view_note(view: str) -> str:
    return f" Answers: {_e(VIEW_NAMES.get(view, view))}." if view else ""
