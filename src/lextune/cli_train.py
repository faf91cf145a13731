"""`lextune train` and `lextune jobs`: start, resume, watch, cancel and read fine-tuning jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lextune.progress import console, ticker

out = console  # progress and warnings go to stderr; results and JSON to stdout
stdout = Console()
jobs_app = typer.Typer(help="Training jobs: list, show, cancel, logs.", no_args_is_help=True)


def _store():
    from lextune.core.store import Store

    return Store()


def train(
    dataset: Annotated[str | None, typer.Option(help="Dataset id or name (default: newest).")] = None,
    recipe: Annotated[Path | None, typer.Option(help="YAML recipe (see the recipes folder of the package).")] = None,
    base_model: Annotated[str | None, typer.Option(help="Override the recipe's base model (catalog name or path; "
                                                    "a provider's model name with --backend).")] = None,
    name: Annotated[str | None, typer.Option(help="Name of the new model version (checked before any work).")] = None,
    resume: Annotated[str | None, typer.Option(help="Continue this job from its newest checkpoint.")] = None,
    job: Annotated[str | None, typer.Option(help="Run this job, created by the API and not started yet.")] = None,
    backend: Annotated[str, typer.Option(help="local, or a provider's fine-tuning API: openai (credentials from "
                                         "the environment or the config file).")] = "local",
    suffix: Annotated[str | None, typer.Option(help="Suffix of the provider's model name (remote backends).")] = None,
):
    """LoRA fine-tune on the dataset's train split; the result is a registered model version.

    Checkpoints go to LEXTUNE_HOME/jobs/JOB every `checkpoint_every` steps; a job killed or
    cancelled continues with --resume JOB. Ctrl-C cancels cleanly.
    """
    from lextune.data.dataset import get_dataset
    from lextune.train.jobs import resume_training, run_created_job, run_training
    from lextune.train.recipe import load_recipe

    store = _store()
    if job:
        with ticker(f"running {job}") as t:
            version = run_created_job(store, job, on_step=t.step, on_status=t.info)
    elif resume:
        with ticker(f"resuming {resume}") as t:
            version = resume_training(store, resume, on_step=t.step, on_status=t.info)
    elif backend != "local":
        from lextune.train.remote import run_remote_training

        rec = load_recipe(recipe)
        info = get_dataset(store, dataset)
        with ticker(f"training on {backend}") as t:
            version = run_remote_training(store, info, rec, backend, base_model, name, suffix, on_status=t.info)
        stdout.print(f"model version {version.name} ({version.id}) is {backend} model {version.remote['fine_tuned_model']}")
        return
    else:
        rec = load_recipe(recipe)
        if base_model:
            rec = rec.model_copy(update={"base_model": base_model})
        info = get_dataset(store, dataset)
        with ticker("training") as t:
            version = run_training(store, info, rec, name, on_step=t.step, on_status=t.info)
    training = version.metrics["training"]
    if training["skipped_rows"]:
        out.print(f"[yellow]warning[/yellow] {len(training['skipped_rows'])} rows left out "
                  f"(see lextune jobs logs {training['job_id']})")
    stdout.print(f"model version {version.name} ({version.id}) adapter at {version.adapter_path} "
                 f"(job {training['job_id']})")


@jobs_app.command("list")
def jobs_list(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False):
    """Every training job, oldest first, with its state and progress."""
    from lextune.train.jobs import job_summary, list_jobs

    store = _store()
    jobs = list_jobs(store)
    if json_out:
        stdout.print_json(json.dumps([job_summary(store, j) for j in jobs]))
        return
    table = Table("id", "state", "backend", "dataset", "step", "loss", "model version", "started")
    for j in jobs:
        table.add_row(j.id, j.status, j.backend, j.dataset_id, f"{j.step}/{j.total_steps}",
                      f"{j.last_loss:.4f}" if j.last_loss is not None else "-", j.model_version_id or "-",
                      j.started_at.strftime("%Y-%m-%d %H:%M"))
    stdout.print(table)


@jobs_app.command("show")
def jobs_show(job: Annotated[str, typer.Argument(help="Job id.")],
              json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False):
    """One job: state, progress, checkpoints, final loss, model version, error."""
    from lextune.train.jobs import get_job, job_summary, refresh_liveness

    store = _store()
    refresh_liveness(store)
    summary = job_summary(store, get_job(store, job))
    if json_out:
        stdout.print_json(json.dumps(summary))
        return
    table = Table("field", "value", title=f"job {job}")
    for k, v in summary.items():
        if k not in ("recipe", "checkpoints") and v is not None:
            table.add_row(k, escape(str(v)))
    table.add_row("checkpoints", ", ".join(f"step {c['step']}" for c in summary["checkpoints"]) or "-")
    stdout.print(table)


@jobs_app.command("cancel")
def jobs_cancel(job: Annotated[str, typer.Argument(help="Job id.")]):
    """Stop a job before its next step (checkpoints are kept: --resume continues it)."""
    from lextune.train.jobs import request_cancel

    state = request_cancel(_store(), job)
    stdout.print(f"job {job}: {state}" + (" (stops before its next step)" if state not in
                                          ("cancelled", "failed", "succeeded") else ""))


@jobs_app.command("logs")
def jobs_logs(job: Annotated[str, typer.Argument(help="Job id.")],
              follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
              json_out: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False):
    """The job's events (its log), oldest first."""
    from lextune.train.jobs import TERMINAL, get_job, job_events, refresh_liveness

    store = _store()
    get_job(store, job)  # a precise error for an unknown id
    last = 0
    while True:
        for e in job_events(store, job, after=last):
            last = e.id
            if json_out:
                stdout.print(json.dumps({"created_at": e.created_at.isoformat(), "level": e.level,
                                         "message": e.message, "metrics": e.metrics}), soft_wrap=True)
            else:
                metrics = {k: v for k, v in (e.metrics or {}).items() if k != "traceback"}
                stdout.print(f"{e.created_at:%Y-%m-%d %H:%M:%S} {e.level:7} {escape(e.message)}"
                             + (f"  {metrics}" if metrics else ""), soft_wrap=True)
        refresh_liveness(store)
        if not follow or get_job(store, job).status in TERMINAL:
            return
        time.sleep(1.0)
