"""Render a data audit as one self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched.

Labels come from documents and user metadata (clause types, client names), so every piece of text
goes through `html.escape`; the page must be safe to open from a shared drive.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from lextune.core.atomic import write_text
from lextune.core.svg_plots import SERIES_COLORS, histogram_svg, stacked_hbar_svg
from lextune.data.audit import UNSET, AuditReport, TokenStats

_MAX_BARS = 41  # every CUAD category fits; longer lists (matters, families) show their largest values

_CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
ul.warnings { list-style: none; padding: 0; }
ul.warnings li { padding: 4px 8px; margin: 3px 0; border-left: 4px solid; }
li.error { border-color: #d93025; background: #fce8e6; }
li.warning { border-color: #f29900; background: #fef7e0; }
li.info { border-color: #9aa0a6; background: #f1f3f4; }
.muted { color: #777; }
pre { background: #f8f8f8; padding: 8px; overflow-x: auto; font-size: 0.85em; }
"""


def _e(value: Any) -> str:
    return escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    def cell(c: Any) -> str:
        return f'<td class="num">{_e(c)}</td>' if isinstance(c, int | float) else f"<td>{_e(c)}</td>"

    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _split_bars(counts: dict[str, dict[str, int]], splits: list[str], title: str) -> str:
    """Stacked bars per label (rows per split), largest first, capped at _MAX_BARS."""
    labels = sorted(counts, key=lambda k: -sum(counts[k].values()))[:_MAX_BARS]
    series = {sp: [counts[label].get(sp, 0) for label in labels] for sp in splits}
    return stacked_hbar_svg(labels, series, title=title, colors=SERIES_COLORS)


def _section_counts(r: AuditReport, splits: list[str]) -> str:
    by_task: dict[str, dict[str, int]] = {}
    for sp, tasks in r.counts.items():
        for task, n in tasks.items():
            by_task.setdefault(task, {})[sp] = n
    rows = [[task, *(c.get(sp, 0) for sp in splits), sum(c.values())] for task, c in sorted(by_task.items())]
    rows.append(["all", *(r.splits[sp] for sp in splits), r.n_rows])
    out = "<h2>Rows per task</h2>" + _split_bars(by_task, splits, "rows per task") + _table(
        ["task", *splits, "total"], rows)
    if r.by_clause_type:
        out += "<h2>Rows per clause type</h2>" + _split_bars(r.by_clause_type, splits, "rows per clause type")
        rows = [[ct, *(c.get(sp, 0) for sp in splits), sum(c.values())] for ct, c in r.by_clause_type.items()]
        out += _table(["clause type", *splits, "total"], rows)
    return out


def _section_diversity(r: AuditReport, splits: list[str]) -> str:
    out = [(f"<h2>Diversity</h2><p class=\"muted\">How the {_e(r.share_basis)} rows spread over the "
            "metadata set at ingest; a value holding a large share teaches that client's or jurisdiction's "
            "habits.</p>")]
    for key, values in r.by_meta.items():
        shares = r.meta_shares.get(key, {})
        if not values or set(values) == {UNSET}:
            out.append(f"<h3>{_e(key.replace('_', ' '))}</h3><p class=\"muted\">not set on any document</p>")
            continue
        labels = list(shares)[:_MAX_BARS]
        svg = stacked_hbar_svg(labels, {"share": [100 * shares[v] for v in labels]},
                               title=f"share of {r.share_basis} rows by {key}", value_fmt="{:.0f}%")
        rows = [[v, *(c.get(sp, 0) for sp in splits), f"{100 * shares.get(v, 0):.1f}%"]
                for v, c in list(values.items())[:_MAX_BARS]]
        hidden = len(values) - _MAX_BARS
        more = f'<p class="muted">and {hidden} more values</p>' if hidden > 0 else ""
        out.append(f"<h3>{_e(key.replace('_', ' '))}</h3>{svg}"
                   + _table([key, *splits, f"share of {r.share_basis}"], rows) + more)
    return "".join(out)


def _stats_row(name: str, s: TokenStats) -> list[Any]:
    return [name, s.n, round(s.mean, 1), s.p50, s.p90, s.p95, s.p99, s.max]


def _section_tokens(r: AuditReport) -> str:
    p, a = r.prompt_tokens, r.answer_tokens
    out = f"<h2>Token lengths</h2><p class=\"muted\">Counted with: {_e(r.token_counter)}</p>"
    out += _table(["", "rows", "mean", "p50", "p90", "p95", "p99", "max"],
                  [_stats_row("prompt", p), _stats_row("answer", a)])
    out += histogram_svg(p.bin_edges, p.counts, x_label="prompt tokens", title="prompt length")
    out += histogram_svg(a.bin_edges, a.counts, x_label="answer tokens", title="answer length")
    keys = ["rows", "prompt_p50", "prompt_p95", "answer_p50", "answer_p95", "max_total"]
    out += _table(["task", *keys], [[t, *(s.get(k, 0) for k in keys)] for t, s in r.tokens_by_task.items()])
    return out


def _section_balance(r: AuditReport) -> str:
    rows = []
    for task, b in r.label_balance.items():
        top = ", ".join(f"{k} ({v})" for k, v in list(b.labels.items())[:6])
        rows.append([task, b.n, b.majority_label or "-", f"{b.majority_share:.0%}",
                     f"{b.not_found_share:.0%}", f"{b.free_text_share:.0%}", top])
    return (f"<h2>Label balance</h2><p class=\"muted\">Over {_e(r.share_basis)} rows; answers longer than "
            "four words count as free text.</p>"
            + _table(["task", "rows", "majority label", "share", "Not found", "free text", "labels"], rows))


def _section_dups_pii(r: AuditReport, splits: list[str]) -> str:
    d, pii = r.duplicates, r.pii
    out = (f"<h2>Duplicates left</h2><p class=\"muted\">Same task, prompt (without system) + answer, "
           f"near-duplicates at estimated Jaccard &gt;= {d.threshold:g} after removing each task's "
           "template.</p>")
    out += _table(["", *splits, "across splits (rows)"], [
        ["exact repeats", *(d.exact_within.get(sp, 0) for sp in splits), d.exact_cross_rows],
        ["near-duplicate repeats", *(d.near_within.get(sp, 0) for sp in splits), d.near_cross_rows],
    ])
    if d.examples:
        out += _table(["row", "split", "near-duplicate row", "split"], [list(x) for x in d.examples])
    out += ("<h2>PII left</h2><p class=\"muted\">Rows containing a known original (from the redaction "
            "mapping); the strings themselves are never shown.</p>")
    out += _table(["strings checked", "ignored (too short)", "strings found", "rows with PII"],
                  [[pii.strings_checked, pii.strings_ignored, pii.strings_found, pii.rows_with_pii]])
    if pii.by_task:
        out += _table(["task", "rows with PII"], [[t, n] for t, n in sorted(pii.by_task.items())])
    return out


def render_audit_html(report: AuditReport) -> str:
    """The whole page as a string."""
    r = report
    splits = list(r.splits)
    name = " ".join(str(r.dataset[k]) for k in ("id", "name") if r.dataset.get(k))
    warnings = "".join(f'<li class="{_e(w.level)}"><b>{_e(w.level)}</b> {_e(w.message)}</li>'
                       for w in r.warnings)
    head = (f"<h1>Dataset audit{': ' + _e(name) if name else ''}</h1>"
            f"<p class=\"muted\">{r.n_rows} rows, {r.n_documents} documents, {r.n_source_chunks} source "
            f"chunks; generated {_e(r.created_at.isoformat(timespec='seconds'))}</p>"
            f"<h2>Warnings</h2><ul class=\"warnings\">{warnings or '<li class=info>none</li>'}</ul>")
    manifest = ""
    if r.manifest:
        keep = {k: r.manifest[k] for k in ("anonymization", "dedup", "leakage_check", "splits", "warnings")
                if k in r.manifest}
        manifest = f"<h2>Build</h2><pre>{_e(json.dumps(keep, indent=2, default=str))}</pre>"
    body = (head + _section_counts(r, splits) + _section_diversity(r, splits) + _section_tokens(r)
            + _section_balance(r) + _section_dups_pii(r, splits) + manifest)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Dataset audit '
            f"{_e(name)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n")


def write_audit_html(report: AuditReport, path: Path) -> Path:
    """Write the page atomically and return its path."""
    write_text(Path(path), render_audit_html(report))
    return Path(path)
