"""`lextune eval`: score a model, compare two, list tasks and stored runs (registered on the main app)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lextune.progress import console, ticker

out = console  # progress and warnings go to stderr; results and JSON to stdout
stdout = Console()


def _store():
    from lextune.core.store import Store

    return Store()


def _task_ticker(prefix: str = ""):
    """on_task(task, units) -> (advance, done): one progress bar per task."""
    from contextlib import ExitStack

    def on_task(*args):
        task, units = args[-2], args[-1]
        side = f"{args[0]} " if len(args) == 3 else ""
        stack = ExitStack()
        t = stack.enter_context(ticker(f"{prefix}{side}{task.label}", total=units))
        return t.advance, stack.close

    return on_task


def _print_runs(runs, json_out: bool) -> None:
    if json_out:
        # The headline metric also sits at the top level under its own name ("balanced_accuracy" for
        # LegalBench), beside the full "metrics".
        payload = [{**r.model_dump(mode="json"), "headline_value": r.headline_value(), r.headline: r.headline_value()}
                   for r, _ in runs]
        stdout.print_json(json.dumps(payload[0] if len(payload) == 1 else payload))
        return
    for run, _ in runs:
        table = Table("metric", "value", "baselines", title=f"{run.model} on {run.task} (n={run.n}, {run.n_docs} documents)")
        for k, v in run.metrics.items():
            if isinstance(v, float | int) and not isinstance(v, bool):
                base = ", ".join(f"{b}: {m[k]:.3f}" for b, m in run.baselines.items()
                                 if isinstance(m, dict) and isinstance(m.get(k), float | int))
                table.add_row(("* " if k == run.headline else "") + k, f"{v:.3f}" if isinstance(v, float) else str(v),
                              base)
        stdout.print(table)
        if run.notes.get("train_docs_allowed"):
            out.print(f"[yellow]warning[/yellow] scored with --allow-train-docs: {run.notes['train_docs_allowed']}",
                      soft_wrap=True)


def _task_options(pairs: list[str] | None) -> dict:
    """"generate=false" -> {"generate": False}; values read as YAML scalars (numbers, booleans, strings)."""
    import yaml

    from lextune.core.errors import ConfigError

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r}: expected key=value")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


eval_app = typer.Typer(help="Evaluate a model (no subcommand), compare two, list tasks.", invoke_without_command=True)

TaskOpt = Annotated[list[str] | None, typer.Option(
    "--task", help="Task as name[:SOURCE], repeatable: legalbench:DIR, mmlu:DIR, contractnli:FILE, cuad:FILE, "
                   "forgetting, clause_quote:FILE ... (default: every row task of the dataset's split, plus "
                   "forgetting and the general MMLU sample).")]
DatasetOpt = Annotated[str | None, typer.Option(help="Dataset id or name (default: the one the model was trained on).")]
SplitOpt = Annotated[str, typer.Option(help="Dataset split to score: test or dev.")]
LimitOpt = Annotated[int | None, typer.Option(help="Score only the first N examples of each task.")]
GenBatchOpt = Annotated[int | None, typer.Option(
    help="Rows decoded together when generating (default 32, fewer when rows x tokens would pass 16,384).")]
SampleOpt = Annotated[int | None, typer.Option(help="Score a stratified sample of N examples per task.")]
AllowOpt = Annotated[bool, typer.Option("--allow-train-docs", help="Score examples from documents the model "
                                        "was trained on (refused otherwise); reported with the run.")]
OptionOpt = Annotated[list[str] | None, typer.Option(
    "--option", help="Task option as key=value, repeatable (e.g. generate=false, max_chars=4000, chat=true).")]
SkipOpt = Annotated[bool, typer.Option("--skip-train-docs", help="Leave out examples from documents the model "
                                       "was trained on (counted in the run's notes) instead of refusing.")]


@eval_app.callback()
def evaluate_cmd(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="'stock', 'active', or a model version name/id.")] = "active",
    task: TaskOpt = None,
    dataset: DatasetOpt = None,
    split: SplitOpt = "test",
    base_model: Annotated[str | None, typer.Option(help="Base model for 'stock'.")] = None,
    limit: LimitOpt = None,
    sample: SampleOpt = None,
    allow_train_docs: AllowOpt = False,
    skip_train_docs: SkipOpt = False,
    option: OptionOpt = None,
    batch_size: Annotated[int, typer.Option(help="Rows per forward pass when scoring choices.")] = 8,
    generate_batch_size: GenBatchOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the run(s) as JSON.")] = False,
):
    """Score a model on held-out data or public benchmarks; every run and its predictions are stored."""
    if ctx.invoked_subcommand:
        return
    from lextune.evals.session import evaluate_model, load_model, resolve_version, tasks_from

    store = _store()
    tasks, ds_id = tasks_from(store, task, resolve_version(store, model), dataset, split,
                              options=_task_options(option))
    loaded = load_model(store, model, base_model, batch_size=batch_size,
                        generate_batch_size=generate_batch_size)
    runs = evaluate_model(store, loaded, tasks, limit=limit, sample=sample, allow_train_docs=allow_train_docs,
                          skip_train_docs=skip_train_docs, dataset_id=ds_id, on_task=_task_ticker(f"{loaded.label}: "))
    _print_runs(runs, json_out)


@eval_app.command("compare")
def evaluate_compare(
    a: Annotated[str, typer.Argument(help="Baseline: 'stock', 'active' or a version.")],
    b: Annotated[str, typer.Argument(help="Candidate: a version (or 'active').")],
    task: TaskOpt = None,
    dataset: DatasetOpt = None,
    split: SplitOpt = "test",
    base_model: Annotated[str | None, typer.Option(help="Base model for 'stock'.")] = None,
    limit: LimitOpt = None,
    sample: SampleOpt = None,
    allow_train_docs: AllowOpt = False,
    skip_train_docs: SkipOpt = False,
    option: OptionOpt = None,
    gate: Annotated[Path | None, typer.Option(help="Promotion gate YAML (default: the shipped gate).")] = None,
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    json_file: Annotated[Path | None, typer.Option("--json-file", help="Write the JSON report here.")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Rows per forward pass when scoring choices.")] = 8,
    generate_batch_size: GenBatchOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
):
    """A vs B on the same examples: side-by-side metrics, document-level bootstrap CIs, paired test, gate verdict."""
    from lextune.core.atomic import write_json, write_text
    from lextune.evals.promotion import save_comparison
    from lextune.evals.report_compare import render_comparison_html, render_comparison_terminal
    from lextune.evals.session import compare_models, load_model, resolve_version, tasks_from

    store = _store()
    tasks, ds_id = tasks_from(store, task, resolve_version(store, b), dataset, split,
                              options=_task_options(option))
    ma = load_model(store, a, base_model, batch_size=batch_size, generate_batch_size=generate_batch_size)
    mb = load_model(store, b, base_model, batch_size=batch_size, generate_batch_size=generate_batch_size)
    report = compare_models(store, ma, mb, tasks, limit=limit, sample=sample, allow_train_docs=allow_train_docs,
                            skip_train_docs=skip_train_docs, gate_path=gate, dataset_id=ds_id, n_resamples=resamples, on_task=_task_ticker())
    save_comparison(store, report)
    page = render_comparison_html(report)
    if html is not None:
        write_text(html, page, mode=0o644)  # a path the user named: an export, plaintext by request
    else:
        # Kept under the home, the report quotes client text: sealed at rest (--html for a readable copy).
        from lextune.security.sealed_files import REPORT, write_sealed_text

        html = store.settings.home / "reports" / f"{report['id']}.html"
        write_sealed_text(html, page, store.keyring, REPORT)
    if json_file:
        write_json(json_file, report)
    if json_out:
        stdout.print_json(json.dumps(report, default=str))
    else:
        stdout.print(render_comparison_terminal(report))
    out.print(f"report: {html}")


@eval_app.command("tasks")
def evaluate_tasks():
    """List the evaluation tasks and what each measures."""
    from lextune.evals.tasks import TASKS, task_names

    table = Table("task", "kind", "headline metric", "source")
    for name in task_names():
        cls = TASKS[name]
        doc = (cls.__doc__ or "").strip().splitlines()
        table.add_row(name, cls.kind, cls.headline, doc[0] if doc else "")
    stdout.print(table)


@eval_app.command("runs")
def evaluate_runs(
    model: Annotated[str | None, typer.Option(help="Only this version's runs.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
):
    """Stored evaluation runs: model, task, headline metric, data hash, code version."""
    from lextune.evals.run import list_runs
    from lextune.evals.session import resolve_version

    store = _store()
    version = resolve_version(store, model) if model else None
    runs = list_runs(store, version.id if version else None)
    if json_out:
        stdout.print_json(json.dumps([r.model_dump(mode="json") for r in runs]))
        return
    table = Table("run", "model", "task", "n", "headline", "value", "data", "code", "when")
    for r in runs:
        v = r.headline_value()
        table.add_row(r.id, r.model, r.task, str(r.n), r.headline, "" if v is None else f"{v:.3f}", r.data_hash[:10],
                      r.code_version, r.created_at.strftime("%Y-%m-%d %H:%M"))
    stdout.print(table)
