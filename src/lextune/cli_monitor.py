"""`lextune monitor drift`: week-over-week drift of the served model, with alerts (lextune/monitor/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lextune.progress import console

monitor_app = typer.Typer(help="Monitoring of the served model: drift of its traffic, week over week.",
                          no_args_is_help=True)


def _fmt(v) -> str:
    if v is None:
        return ""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


@monitor_app.command("drift")
def drift(
    weeks: Annotated[int, typer.Option(min=2, max=104, help="ISO weeks to show; the last is compared with the others.")] = 8,
    html: Annotated[Path | None, typer.Option(help="Write the offline HTML report (SVG plots) here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    thresholds: Annotated[Path | None, typer.Option(help="YAML overriding alert thresholds (keys checked).")] = None,
    webhook: Annotated[str | None, typer.Option(help="POST the alerts raised (JSON) to this URL.")] = None,
    until: Annotated[str | None, typer.Option(help="Report up to the week holding this date (YYYY-MM-DD; default today).")] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow", help="Also log the metrics to MLflow, when it is installed.")] = False,
    realert: Annotated[bool, typer.Option("--realert", help="Raise every current alert again, even those raised "
                                          "already for this week.")] = False,
):
    """Input length, topic mixture, refusals, 'not in the documents', reviewer corrections and latency,
    week over week; alerts (log, audit row, webhook) where the latest week crosses a threshold, each once
    (again only when it worsens, or clears and crosses again; --realert forces)."""
    from lextune.core.atomic import write_text
    from lextune.core.errors import ConfigError
    from lextune.core.store import Store
    from lextune.monitor.alerts import raise_alerts
    from lextune.monitor.drift import drift_report
    from lextune.monitor.html import METRICS, render_html
    from lextune.monitor.thresholds import load_thresholds

    limits = load_thresholds(thresholds)
    now = None
    if until:
        try:
            now = datetime.fromisoformat(until).replace(tzinfo=UTC)
        except ValueError:
            raise ConfigError(f"--until {until!r}: expected a date, YYYY-MM-DD") from None
    store = Store()
    report = drift_report(store, weeks=weeks, thresholds=limits, now=now)
    error = raise_alerts(store, report, webhook, realert=realert)
    for a in report["alerts"]:
        if a["new"]:
            console.print(f"[red]ALERT[/red] {a['message']}", highlight=False)
        else:
            console.print(f"[yellow]alert (raised already, not again)[/yellow] {a['message']}", highlight=False)
    for c in report["cleared"]:
        console.print(f"[green]cleared[/green] {c['metric']} ({c['direction']}) for {c['week']}", highlight=False)
    if error:
        console.print(f"[yellow]{error}[/yellow]", highlight=False)
    if html is not None:
        write_text(html, render_html(report), mode=0o644)  # numbers only, no client text
        console.print(f"report: {html}")
    if mlflow:
        from lextune.monitor.export import export_mlflow

        run_id = export_mlflow(report)
        console.print(f"MLflow run {run_id}" if run_id else "MLflow is not installed: metrics not exported")
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table("metric", *(w["week"] for w in report["weeks"]), "earlier", title="served model drift")
    for key, label, _ in METRICS:
        table.add_row(label, *(_fmt(w.get(key)) for w in report["weeks"]), _fmt(report["reference"].get(key)))
    console.print(table)
    for n in report["notes"]:
        console.print(n, highlight=False)
    if not report["alerts"]:
        console.print(f"no alert for {report['latest_week']}")


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")
