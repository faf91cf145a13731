"""Inline SVG charts for the HTML pages (eval report, data audit): no plotting library, no external resources.

Every label is escaped, so the output is well-formed XML even when label text comes from documents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

STOCK_COLOR = "#9aa0a6"
TUNED_COLOR = "#1a73e8"
_INK = "#333"
_GRID = "#e3e3e3"
_WIDTH = 640
_TEXT = 'font-family="sans-serif" font-size="11"'
_MAX_LABEL_CHARS = 32

Interval = tuple[float, float] | None


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values (steps of 1, 2, 2.5 or 5 x 10^k) spanning [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    # Integer multiples of step avoid the drift that repeated float addition gives.
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _fmt_tick(value: float) -> str:
    return f"{value:g}"


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL_CHARS else label[: _MAX_LABEL_CHARS - 1] + "\u2026"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _text(x: float, y: float, content: str, anchor: str = "middle", extra: str = "") -> str:
    """A text element; `content` must already be escaped markup."""
    return f'<text x="{x:.1f}" y="{y:.1f}" {_TEXT} fill="{_INK}" text-anchor="{anchor}"{extra}>{content}</text>'


def _svg_open(height: float, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {_WIDTH} {height:.0f}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )


def _legend(x: float, y: float) -> str:
    items = []
    for i, (name, color) in enumerate((("stock", STOCK_COLOR), ("tuned", TUNED_COLOR))):
        left = x + i * 80
        items.append(
            f'<rect x="{left:.1f}" y="{y - 9:.1f}" width="12" height="10" fill="{color}"/>'
            + _text(left + 16, y, name, anchor="start")
        )
    return "".join(items)


def _bar(x0: float, y: float, value: float, axis_max: float, scale: float, color: str, tip: str, ci: Interval) -> str:
    def x_of(v: float) -> float:
        # Clamp to the axis so an out-of-range value or CI cannot draw over the labels or off the chart.
        return x0 + min(max(v, 0.0), axis_max) * scale

    out = (
        f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x_of(value) - x0:.1f}" height="10" fill="{color}">'
        f"<title>{escape(tip)}</title></rect>"
    )
    if ci is not None and _finite(ci[0]) and _finite(ci[1]):
        lo, hi, mid = x_of(ci[0]), x_of(ci[1]), y + 5
        out += (
            f'<path d="M{lo:.1f},{mid:.1f}H{hi:.1f}M{lo:.1f},{mid - 4:.1f}V{mid + 4:.1f}'
            f'M{hi:.1f},{mid - 4:.1f}V{mid + 4:.1f}" stroke="{_INK}" stroke-width="1" fill="none"/>'
        )
    return out


def _vertical_grid(ticks: list[float], left: float, scale: float, top: float, axis_y: float) -> list[str]:
    """Vertical grid lines with their value under the axis, for horizontal bar charts."""
    return [f'<line x1="{left + t * scale:.1f}" y1="{top - 4}" x2="{left + t * scale:.1f}" y2="{axis_y}" '
            f'stroke="{_GRID}"/>' + _text(left + t * scale, axis_y + 16, _fmt_tick(t)) for t in ticks]


def grouped_hbar_svg(
    labels: Sequence[str],
    stock: Sequence[float | None],
    tuned: Sequence[float | None],
    stock_ci: Sequence[Interval] | None = None,
    tuned_ci: Sequence[Interval] | None = None,
    title: str = "",
) -> str:
    """Horizontal bars, stock above tuned for each label, for scores in [0, 1], with optional CI whiskers."""
    stock_ci = stock_ci or [None] * len(labels)
    tuned_ci = tuned_ci or [None] * len(labels)
    left = min(220, 12 + 7 * max((len(_short(label)) for label in labels), default=0))
    top, row_h, bottom = 28, 30, 28
    plot_w = _WIDTH - left - 20
    height = top + row_h * len(labels) + bottom
    ticks = nice_ticks(0.0, 1.0)
    scale = plot_w / ticks[-1]
    axis_y = top + row_h * len(labels)
    parts = [_svg_open(height, title), _legend(left, 14)]
    parts += _vertical_grid(ticks, left, scale, top, axis_y)
    for i, label in enumerate(labels):
        y = top + i * row_h
        parts.append(_text(left - 6, y + 17, f"{escape(_short(label))}<title>{escape(label)}</title>", anchor="end"))
        bars = ((4, "stock", stock[i], stock_ci[i], STOCK_COLOR), (15, "tuned", tuned[i], tuned_ci[i], TUNED_COLOR))
        for offset, name, value, ci, color in bars:
            if _finite(value):
                tip = f"{name} {label}: {value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
                parts.append(_bar(left, y + offset, value, ticks[-1], scale, color, tip, ci))
    parts.append(f'<line x1="{left:.1f}" y1="{axis_y}" x2="{left + plot_w:.1f}" y2="{axis_y}" stroke="{_INK}"/>')
    parts.append("</svg>")
    return "".join(parts)


def line_plot_svg(
    points: Sequence[Sequence[float]], x_label: str = "step", y_label: str = "loss", title: str = ""
) -> str:
    """Polyline of (x, y) points with ticked axes; non-finite points are dropped, "" when none remain."""
    pts = [(float(x), float(y)) for x, y in points if math.isfinite(x) and math.isfinite(y)]
    if not pts:
        return ""
    left, right, top, bottom, height = 56, 16, 16, 44, 260
    plot_w, plot_h = _WIDTH - left - right, height - top - bottom
    x_ticks = nice_ticks(min(p[0] for p in pts), max(p[0] for p in pts))
    y_ticks = nice_ticks(min(p[1] for p in pts), max(p[1] for p in pts))

    def sx(x: float) -> float:
        return left + (x - x_ticks[0]) / (x_ticks[-1] - x_ticks[0]) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]) * plot_h

    base = top + plot_h
    parts = [_svg_open(height, title)]
    for tick in x_ticks:
        parts.append(
            f'<line x1="{sx(tick):.1f}" y1="{base}" x2="{sx(tick):.1f}" y2="{base + 4}" stroke="{_INK}"/>'
            + _text(sx(tick), base + 16, _fmt_tick(tick))
        )
    for tick in y_ticks:
        parts.append(
            f'<line x1="{left}" y1="{sy(tick):.1f}" x2="{left + plot_w}" y2="{sy(tick):.1f}" stroke="{_GRID}"/>'
            + _text(left - 6, sy(tick) + 4, _fmt_tick(tick), anchor="end")
        )
    parts.append(f'<path d="M{left},{top}V{base}H{left + plot_w}" stroke="{_INK}" fill="none"/>')
    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
    parts.append(f'<polyline points="{coords}" fill="none" stroke="{TUNED_COLOR}" stroke-width="1.5"/>')
    # Mark the last point: the final loss is what readers look for, and a lone point has no visible line.
    last_x, last_y = pts[-1]
    parts.append(
        f'<circle cx="{sx(last_x):.1f}" cy="{sy(last_y):.1f}" r="3" fill="{TUNED_COLOR}">'
        f"<title>{escape(x_label)} {last_x:g}: {escape(y_label)} {last_y:.4g}</title></circle>"
    )
    mid_y = top + plot_h / 2
    parts.append(_text(left + plot_w / 2, height - 6, escape(x_label)))
    parts.append(_text(14, mid_y, escape(y_label), extra=f' transform="rotate(-90 14 {mid_y:.1f})"'))
    parts.append("</svg>")
    return "".join(parts)


SERIES_COLORS = ("#1a73e8", "#f29900", "#9aa0a6", "#188038", "#a142f4", "#d93025")


def _series_legend(names: Sequence[str], colors: Sequence[str], x: float, y: float) -> str:
    items = []
    for i, (name, color) in enumerate(zip(names, colors)):
        left = x + i * 90
        items.append(
            f'<rect x="{left:.1f}" y="{y - 9:.1f}" width="12" height="10" fill="{color}"/>'
            + _text(left + 16, y, escape(_short(name)), anchor="start")
        )
    return "".join(items)


def stacked_hbar_svg(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str = "",
    colors: Sequence[str] = SERIES_COLORS,
    value_fmt: str = "{:g}",
) -> str:
    """One horizontal bar per label, stacked from the series (e.g. rows per split), total at its end.

    A single series draws plain bars without a legend; "" when there are no labels.
    """
    if not labels:
        return ""
    names = list(series)
    totals = [sum(float(series[n][i]) for n in names) for i in range(len(labels))]
    left = min(240, 12 + 7 * max(len(_short(label)) for label in labels))
    top = 28 if len(names) > 1 else 10
    row_h, bottom = 20, 28
    plot_w = _WIDTH - left - 60  # room for the total printed after the longest bar
    height = top + row_h * len(labels) + bottom
    ticks = nice_ticks(0.0, max(max(totals), 1e-9))
    scale = plot_w / ticks[-1]
    axis_y = top + row_h * len(labels)
    parts = [_svg_open(height, title)]
    if len(names) > 1:
        parts.append(_series_legend(names, colors, left, 14))
    parts += _vertical_grid(ticks, left, scale, top, axis_y)
    for i, label in enumerate(labels):
        y = top + i * row_h
        name_tag = f"{escape(_short(label))}<title>{escape(label)}</title>"
        parts.append(_text(left - 6, y + 13, name_tag, anchor="end"))
        x = float(left)
        for j, name in enumerate(names):
            value = float(series[name][i])
            if value <= 0 or not math.isfinite(value):
                continue
            width = value * scale
            tip = f"{label} ({name})" if len(names) > 1 else label
            tip += f": {value_fmt.format(value)}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4:.1f}" width="{width:.1f}" height="12" '
                f'fill="{colors[j % len(colors)]}"><title>{escape(tip)}</title></rect>'
            )
            x += width
        parts.append(_text(x + 4, y + 13, escape(value_fmt.format(totals[i])), anchor="start"))
    parts.append(f'<line x1="{left:.1f}" y1="{axis_y}" x2="{left + plot_w:.1f}" y2="{axis_y}" '
                 f'stroke="{_INK}"/>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(
    edges: Sequence[float], counts: Sequence[int], x_label: str = "", y_label: str = "rows", title: str = ""
) -> str:
    """Vertical bars over bins [edges[i], edges[i+1]); needs len(edges) == len(counts) + 1, else ""."""
    if not counts or len(edges) != len(counts) + 1:
        return ""
    left, right, top, bottom, height = 56, 16, 16, 44, 240
    plot_w, plot_h = _WIDTH - left - right, height - top - bottom
    y_ticks = nice_ticks(0.0, max(max(counts), 1))
    x0, x1 = float(edges[0]), float(edges[-1])
    span = (x1 - x0) or 1.0

    def sx(x: float) -> float:
        return left + (x - x0) / span * plot_w

    def sy(y: float) -> float:
        return top + plot_h - y / y_ticks[-1] * plot_h

    base = top + plot_h
    parts = [_svg_open(height, title)]
    for tick in y_ticks:
        parts.append(
            f'<line x1="{left}" y1="{sy(tick):.1f}" x2="{left + plot_w}" y2="{sy(tick):.1f}" '
            f'stroke="{_GRID}"/>'
            + _text(left - 6, sy(tick) + 4, _fmt_tick(tick), anchor="end")
        )
    for i, count in enumerate(counts):
        if count <= 0:
            continue
        a, b = sx(edges[i]), sx(edges[i + 1])
        parts.append(
            f'<rect x="{a + 0.5:.1f}" y="{sy(count):.1f}" width="{max(b - a - 1, 0.5):.1f}" '
            f'height="{base - sy(count):.1f}" fill="{TUNED_COLOR}">'
            f"<title>{_fmt_tick(edges[i])}\u2013{_fmt_tick(edges[i + 1])}: {count}</title></rect>"
        )
    for tick in nice_ticks(x0, x1, 8):
        if x0 <= tick <= x1:
            parts.append(_text(sx(tick), base + 16, _fmt_tick(tick)))
    parts.append(f'<path d="M{left},{top}V{base}H{left + plot_w}" stroke="{_INK}" fill="none"/>')
    mid_y = top + plot_h / 2
    parts.append(_text(left + plot_w / 2, height - 6, escape(x_label)))
    parts.append(_text(14, mid_y, escape(y_label), extra=f' transform="rotate(-90 14 {mid_y:.1f})"'))
    parts.append("</svg>")
    return "".join(parts)
