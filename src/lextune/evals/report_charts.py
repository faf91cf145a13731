"""The comparison report's charts: side-by-side bars with CI whiskers and baseline markers, and the
confusion-matrix heat map, as inline SVG in svg_plots' typographic style."""

from __future__ import annotations

import math
import numbers
from html import escape
from typing import Any

# The private helpers keep every chart of the project in one typographic style.
from lextune.core.svg_plots import _GRID, _INK, STOCK_COLOR, TUNED_COLOR, _short, _text, nice_ticks

A_COLOR, B_COLOR = STOCK_COLOR, TUNED_COLOR
BASELINE_COLOR = "#d93025"
_CHART_WIDTH = 900  # wider than svg_plots' 640: the page is 1000px and labels need the room


def finite_number(value: Any) -> float | None:
    """The value as a float when it is a finite real number (not a bool), else None."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def bars_svg(rows: list[dict], a_name: str, b_name: str, rate: bool, title: str) -> str:
    """Horizontal A and B bars per row with CI whiskers and baseline markers.

    rows: {"label", "a", "b", "a_ci", "b_ci", "baselines": {name: value}}; axis 0..100% for rates.
    """
    if not rows:
        return ""
    values = [v for r in rows for v in (r["a"], r["b"], *(r["a_ci"] or ()), *(r["b_ci"] or ()),
                                         *r["baselines"].values()) if finite_number(v) is not None]
    ticks = nice_ticks(0.0, 1.0) if rate else nice_ticks(0.0, max(values + [1e-9]))
    left = min(250, 14 + 6.5 * max(len(_short(r["label"])) for r in rows))
    top, row_h, bottom = 34, 34, 30
    plot_w = _CHART_WIDTH - left - 24
    scale = plot_w / ticks[-1]
    axis_y = top + row_h * len(rows)
    height = axis_y + bottom

    def x_of(v: float) -> float:
        return left + min(max(v, 0.0), ticks[-1]) * scale

    def tick_text(t: float) -> str:
        return f"{t * 100:g}%" if rate else f"{t:g}"

    def show(v: float) -> str:
        return f"{v * 100:.1f}%" if rate else f"{v:.3f}"

    parts = [_sized_svg_open(_CHART_WIDTH, height, title)]
    legend = [(a_name, A_COLOR, "rect"), (b_name, B_COLOR, "rect")]
    if any(r["baselines"] for r in rows):
        legend.append(("trivial baseline", BASELINE_COLOR, "line"))
    if any(r["a_ci"] or r["b_ci"] for r in rows):
        legend.append(("95% CI", _INK, "whisker"))
    x = 10.0  # from the left edge: the plot's width is for the bars, the legend may need more
    for name, color, shape in legend:
        if shape == "rect":
            mark = f'<rect x="{x:.1f}" y="8" width="12" height="10" fill="{color}"/>'
        elif shape == "line":
            mark = (f'<line x1="{x + 6:.1f}" y1="6" x2="{x + 6:.1f}" y2="20" stroke="{color}" '
                    'stroke-width="2" stroke-dasharray="3,2"/>')
        else:
            mark = (f'<path d="M{x:.1f},9V17M{x:.1f},13H{x + 12:.1f}M{x + 12:.1f},9V17" '
                    f'stroke="{color}" fill="none"/>')
        label = f"{escape(_short(name))}<title>{escape(name)}</title>"
        parts.append(mark + _text(x + 16, 17, label, anchor="start"))
        x += 34 + 6.2 * len(_short(name))
    for t in ticks:
        parts.append(f'<line x1="{x_of(t):.1f}" y1="{top - 4}" x2="{x_of(t):.1f}" y2="{axis_y}" '
                     f'stroke="{_GRID}"/>' + _text(x_of(t), axis_y + 16, tick_text(t)))
    for i, r in enumerate(rows):
        y = top + i * row_h
        label = f"{escape(_short(r['label']))}<title>{escape(r['label'])}</title>"
        parts.append(_text(left - 6, y + 19, label, anchor="end"))
        for offset, name, value, ci, color in ((5, a_name, r["a"], r["a_ci"], A_COLOR),
                                               (17, b_name, r["b"], r["b_ci"], B_COLOR)):
            v = finite_number(value)
            if v is None:
                continue
            tip = f"{name}, {r['label']}: {show(v)}"
            tip += f" (95% CI {show(ci[0])} to {show(ci[1])})" if ci else ""
            parts.append(f'<rect x="{left}" y="{y + offset}" width="{x_of(v) - left:.1f}" height="11" '
                         f'fill="{color}"><title>{escape(tip)}</title></rect>')
            if ci:
                lo, hi, mid = x_of(ci[0]), x_of(ci[1]), y + offset + 5.5
                parts.append(f'<path d="M{lo:.1f},{mid:.1f}H{hi:.1f}M{lo:.1f},{mid - 4:.1f}V{mid + 4:.1f}'
                             f'M{hi:.1f},{mid - 4:.1f}V{mid + 4:.1f}" stroke="{_INK}" fill="none"/>')
        for name, value in r["baselines"].items():
            v = finite_number(value)
            if v is not None:
                parts.append(f'<line x1="{x_of(v):.1f}" y1="{y + 2}" x2="{x_of(v):.1f}" y2="{y + 31}" '
                             f'stroke="{BASELINE_COLOR}" stroke-width="2" stroke-dasharray="3,2">'
                             f"<title>{escape(f'baseline {name!s}: {show(v)}')}</title></line>")
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="{_INK}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _sized_svg_open(width: float, height: float, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>")


def heatmap_svg(rows: list[str], columns: list[str], matrix: list[list[Any]], title: str) -> str:
    """Confusion matrix: rows the gold label, columns the answer (maybe one more: "(none)"). Colour is the
    row's share, so a rare label's mistakes show as clearly as a common one's; right blue, wrong red."""
    n, m = len(rows), len(columns)
    if not n or not m or len(matrix) != n or any(len(row) != m for row in matrix):
        return ""
    cell = max(24, min(44, 360 // m))
    left = min(230, 16 + 6.5 * max(len(_short(label)) for label in rows))
    # Column labels run up and to the right at 45 degrees: room above, and to the right of the last one.
    slant = 4.6 * max(len(_short(label)) for label in columns)
    top = 20 + slant
    width, height = left + cell * m + slant + 8, top + cell * n + 8
    # Sized to the matrix, not svg_plots' fixed chart width, so two maps sit side by side.
    parts = [_sized_svg_open(width, height, title)]
    for j, label in enumerate(columns):
        cx = left + j * cell + cell / 2
        parts.append(_text(cx, top - 6, f"{escape(_short(label))}<title>{escape(label)}</title>",
                           anchor="start", extra=f' transform="rotate(-45 {cx:.1f} {top - 6:.1f})"'))
    for i, label in enumerate(rows):
        counts = [finite_number(v) or 0.0 for v in matrix[i]]
        total = sum(counts) or 1.0
        y = top + i * cell
        name = f"{escape(_short(label))}<title>{escape(label)}</title>"
        parts.append(_text(left - 6, y + cell / 2 + 4, name, anchor="end"))
        for j, count in enumerate(counts):
            share = count / total
            rgb = (26, 115, 232) if columns[j] == label else (217, 48, 37)
            fill = "rgb({},{},{})".format(*(round(255 - (255 - c) * share) for c in rgb))
            ink = "#fff" if share > 0.55 else _INK
            tip = f"right answer {label}, model said {columns[j]}: {count:g} ({share:.0%} of the row)"
            x = left + j * cell
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell}" height="{cell}" fill="{fill}" '
                         f'stroke="#fff"><title>{escape(tip)}</title></rect>'
                         f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" font-family="sans-serif" '
                         f'font-size="11" fill="{ink}" text-anchor="middle">{count:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- sections
