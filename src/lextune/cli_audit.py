"""`lextune audit`: the audit trail (served answers, verification)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

stdout = Console()
audit_app = typer.Typer(help="The audit trail: served answers, verify it is intact.", no_args_is_help=True)


@audit_app.command("served")
def audit_served(
    version: Annotated[str | None, typer.Option(help="Only answers of this model version (name or id).")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
):
    """Answers the service gave: when, to whom, which model version, which passages."""
    from lextune.core.store import Store
    from lextune.serve.trace import served_answers

    rows = served_answers(Store(), limit=limit, version=version)
    if as_json:
        stdout.print_json(json.dumps(rows))
        return
    table = Table("when", "client", "route", "model version", "scope", "retrieved", "cited")
    for r in rows:
        table.add_row(r["ts"][:19], str(r.get("client") or ""), str(r.get("route")), str(r.get("model_version")),
                      str(r.get("scope") or ""), str(len(r.get("retrieved") or [])), str(len(r.get("cited") or [])))
    stdout.print(table)


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False):
    """Check the audit trail: every row's MAC and link, the head, and the signed anchor outside the database.

    Prints the first bad row when the trail is not intact, and exits 1 then; 0 when intact.
    """
    from lextune.core.audit import verify_trail
    from lextune.core.store import Store

    verdict = verify_trail(Store())
    if as_json:
        stdout.print_json(json.dumps(verdict.to_dict()))
    else:
        anchor = verdict.anchor
        where = f" at count {anchor['count']}, last id {anchor['last_id']}" if "count" in anchor else ""
        stdout.print(f"rows checked: {verdict.rows} ({verdict.legacy_rows} legacy sha256, keyed MAC from id "
                     f"{verdict.keyed_from}); anchor {anchor.get('status')}{where} ({anchor.get('path')})",
                     highlight=False, soft_wrap=True)
        for w in verdict.warnings:
            stdout.print(f"warning: {w}", highlight=False, soft_wrap=True)
        if verdict.ok:
            stdout.print("audit trail intact", highlight=False)
        else:
            stdout.print(f"audit trail NOT intact: {verdict.problem}", highlight=False, soft_wrap=True)
            for p in verdict.problems[1:]:
                stdout.print(f"  also: {p}", highlight=False, soft_wrap=True)
    if not verdict.ok:
        raise typer.Exit(1)
