"""The terminal summary of a data audit (`lextune data audit`), as Rich renderables.

Labels come from documents and user metadata, so every value from the data is plain Text, never markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from lextune.data.audit import UNSET, AuditReport, format_counts


def render_text(report: AuditReport) -> Group:
    """The terminal summary as Rich renderables; every value from the data is plain Text, never markup."""
    name = " ".join(str(report.dataset[k]) for k in ("id", "name") if report.dataset.get(k))
    title = f"Dataset audit{' of ' + name if name else ''}: {report.n_rows} rows"
    parts: list[Any] = [Text(title, style="bold")]
    splits = list(report.splits)
    tasks = sorted({t for c in report.counts.values() for t in c})
    table = Table("task", *splits, "total", title="rows per task", title_justify="left")
    for task in tasks:
        n = [report.counts[sp].get(task, 0) for sp in splits]
        table.add_row(Text(task), *map(str, n), str(sum(n)))
    table.add_row(Text("all", style="bold"), *(str(report.splits[sp]) for sp in splits), str(report.n_rows))
    parts.append(table)
    if report.by_clause_type:
        top = {ct: sum(c.values()) for ct, c in report.by_clause_type.items()}
        parts.append(Text(f"clause types ({len(top)}): {format_counts(top, 10)}"))
    for key, shares in report.meta_shares.items():
        if any(v != UNSET for v in shares):
            spread = ", ".join(f"{v} {s:.0%}" for v, s in list(shares.items())[:4])
            parts.append(Text(f"{key.replace('_', ' ')} ({report.share_basis} rows): {spread}"))
    p, a = report.prompt_tokens, report.answer_tokens
    parts.append(Text(f"tokens ({report.token_counter}): prompt p50 {p.p50:.0f} / p95 {p.p95:.0f} / "
                      f"max {p.max}; answer p50 {a.p50:.0f} / p95 {a.p95:.0f} / max {a.max}"))
    bal = Table("task", "majority label", "share", "Not found", "free text", title="label balance",
                title_justify="left")
    for task, b in report.label_balance.items():
        bal.add_row(Text(task), Text(b.majority_label or "-"), f"{b.majority_share:.0%}",
                    f"{b.not_found_share:.0%}", f"{b.free_text_share:.0%}")
    parts.append(bal)
    d = report.duplicates
    parts.append(Text(f"duplicates left: {sum(d.exact_within.values())} exact and "
                      f"{sum(d.near_within.values())} near within splits, {d.near_cross_rows} rows across "
                      f"splits; PII left: {report.pii.rows_with_pii} rows "
                      f"({report.pii.strings_checked} strings checked)"))
    styles = {"error": "bold red", "warning": "yellow", "info": "dim"}
    for w in report.warnings:
        parts.append(Text(f"{w.level}: {w.message}", style=styles[w.level]))
    if not report.warnings:
        parts.append(Text("no warnings", style="green"))
    return Group(*parts)
