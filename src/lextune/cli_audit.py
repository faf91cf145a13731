"""`lextune audit`: the audit trail (served answers)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

stdout = Console()
audit_app = typer.Typer(help="The audit trail: served answers.", no_args_is_help=True)


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
