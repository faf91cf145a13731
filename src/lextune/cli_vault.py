"""`lextune vault forget`: erase a document from the vault (right to erasure, matter closed)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

stdout = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add the `vault` sub-app (forget) to the lextune app."""
    vault_app = typer.Typer(help="The vault's documents: erasure.", no_args_is_help=True)
    vault_app.command("forget")(forget)
    app.add_typer(vault_app, name="vault")


def forget(
    document: Annotated[str, typer.Argument(help="Document id (doc-...), as `lextune ingest` and dataset rows name it.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail and the tombstone): e.g. 'erasure "
                                        "request 2026-03-01', 'matter M-12 closed'. No personal data.")],
    all_versions: Annotated[bool, typer.Option("--all-versions", help="Forget every version of the document "
                                               "(same source file), not only this one.")] = False,
    purge_datasets: Annotated[bool, typer.Option("--purge-datasets", help="Also rewrite dataset files without "
                                                 "its rows (counts and sha256 updated).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    no_vacuum: Annotated[bool, typer.Option("--no-vacuum", help="Skip VACUUM (a very large vault); deleted content "
                                            "is still zeroed and the WAL truncated.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the erasure report as JSON.")] = False,
):
    """Forget a document: text, chunks, search index, vectors and PII mapping are deleted; datasets and model
    versions trained on it are marked affected; a tombstone (id and hash only) refuses it on re-ingest.

    Cannot be undone. Without --yes, shows what would be removed and asks first.
    """
    from lextune.core.store import Store
    from lextune.vault.forget import forget_document, plan_forget

    store = Store()
    if not yes:
        _print_plan(plan_forget(store, document, all_versions=all_versions, purge_datasets=purge_datasets),
                    purge_datasets)
        typer.confirm(f"Forget {document}{' and all its versions' if all_versions else ''}? This cannot be undone",
                      abort=True, err=True)
    report = forget_document(store, document, reason, all_versions=all_versions, purge_datasets=purge_datasets,
                             vacuum=not no_vacuum)
    for w in report.warnings:
        err.print(f"[yellow]warning[/yellow] {escape(w)}", highlight=False, soft_wrap=True)
    if as_json:
        stdout.print_json(report.model_dump_json())
        return
    _print_done(report)


def _removed_line(removed: dict[str, int]) -> str:
    keys = ("documents", "chunks", "fts_rows", "vectors", "pii_mappings", "annotations", "defined_terms",
            "split_assignments", "eval_predictions")
    return ", ".join(f"{removed.get(k, 0)} {k.replace('_', ' ')}" for k in keys)


def _print_plan(plan, purge: bool) -> None:
    err.print(f"would forget {', '.join(plan.document_ids)}: {_removed_line(plan.removed)}", highlight=False,
              soft_wrap=True)
    for w in plan.warnings:
        err.print(f"[yellow]note[/yellow] {escape(w)}", highlight=False, soft_wrap=True)
    for ds in plan.datasets:
        err.print(f"dataset {ds.id} ({escape(ds.name)}) has {ds.n_rows} rows from it: marked affected, "
                  + ("and its files rewritten without them" if purge else "its files keep them (--purge-datasets)"),
                  highlight=False, soft_wrap=True)
    for v in plan.versions:
        err.print(f"model version {escape(v.name)} ({v.id}) trained on {v.dataset_id}: marked affected, "
                  "must be retrained", highlight=False, soft_wrap=True)


def _print_done(report) -> None:
    what = ", ".join(report.document_ids)
    if report.removed:
        stdout.print(f"forgot {what}: {_removed_line(report.removed)}", highlight=False, soft_wrap=True)
    else:
        stdout.print(f"{what} was already forgotten: datasets checked again", highlight=False, soft_wrap=True)
    for d in report.now_latest:
        stdout.print(f"{d} is the latest version again", highlight=False)
    for ds in report.datasets:
        if ds.purged:
            tail = f"purged: {ds.n_rows} rows removed, sha256 {ds.previous_sha256} -> {ds.sha256}"
            if ds.exports_removed:
                tail += f"; exports removed (export again): {', '.join(ds.exports_removed)}"
        else:
            tail = f"{ds.n_rows} rows from it are STILL in its files: run again with --purge-datasets"
        stdout.print(f"affected dataset {ds.id} ({escape(ds.name)}): {tail}", highlight=False, soft_wrap=True)
    for v in report.versions:
        stdout.print(f"affected model version {escape(v.name)} ({v.id}), trained on {v.dataset_id}: retrain it",
                     highlight=False, soft_wrap=True)
    st = report.storage
    if st.get("database") == "sqlite":
        stdout.print(f"database scrubbed: secure delete, search index merged, "
                     f"{'vacuumed' if st.get('vacuumed') else 'not vacuumed'}, "
                     f"WAL {'truncated' if st.get('wal_truncated') else 'NOT truncated'}", highlight=False)
    stdout.print(f"audit row {report.audit_id} (vault.forget)", highlight=False)
