"""The `lextune` command line: each command a thin call into one package."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lextune.core.errors import LextuneError
from lextune.progress import console, quiet_libraries, ticker

app = typer.Typer(help="Fine-tune open language models on your legal documents, privately.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Build training data from the vault.", no_args_is_help=True)
models_app = typer.Typer(help="Model versions: list, activate, go back to stock.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
out = console  # progress, warnings and tables go to stderr; results and JSON to stdout
stdout = Console()


@app.callback()
def main(home: Annotated[Path | None, typer.Option(help="State folder (default $LEXTUNE_HOME or ~/.lextune).")] = None):
    """lextune: vault -> dataset -> LoRA fine-tune -> evaluate -> registry -> answers with citations."""
    if home:
        os.environ["LEXTUNE_HOME"] = str(home.expanduser().resolve())
    quiet_libraries()


def _store():
    from lextune.core.store import Store

    return Store()


@app.command()
def ingest(paths: Annotated[list[Path], typer.Argument(help="Files or folders: .txt .md .pdf .docx, CUAD .json/.jsonl(.gz).")]):
    """Ingest documents into the vault: chunks with section and character span, CUAD clause labels."""
    from lextune.vault.vault import Vault, expand_paths

    files = expand_paths(paths)
    with ticker("ingesting", total=len(files)) as t:
        report = Vault(_store()).ingest(files, on_file=lambda p: t.advance())
    for e in report.errors:
        out.print(f"[red]skipped[/red] {e}")
    for w in report.warnings:
        out.print(f"[yellow]warning[/yellow] {w}")
    stdout.print(f"ingested {len(report.added)} documents ({report.n_chunks} chunks); "
                 f"{len(report.duplicates)} already in the vault; {len(report.errors)} files skipped")
    if report.errors and not report.added:
        raise typer.Exit(1)


@data_app.command("build")
def data_build(
    name: Annotated[str, typer.Option(help="Dataset name.")] = "clauses",
    clause_type: Annotated[list[str] | None, typer.Option("--clause-type", help="Clause type to include (repeatable; default: 10 common CUAD types).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the document split.")] = 0,
):
    """Build clause-typing and clause-quoting rows from labelled contracts, split by document."""
    from lextune.data.dataset import BuildConfig, build_dataset

    cfg = BuildConfig(name=name, seed=seed, **({"clause_types": clause_type} if clause_type else {}))
    info = build_dataset(_store(), cfg)
    table = Table("split", *sorted({t for c in info.counts.values() for t in c}), title=f"dataset {info.id}")
    tasks = sorted({t for c in info.counts.values() for t in c})
    for sp, c in info.counts.items():
        table.add_row(sp, *[str(c.get(t, 0)) for t in tasks])
    out.print(table)
    stdout.print(f"dataset {info.id} ({info.name}) at {info.path}")


@app.command()
def train(
    dataset: Annotated[str | None, typer.Option(help="Dataset id or name (default: newest).")] = None,
    recipe: Annotated[Path | None, typer.Option(help="YAML recipe (see recipes/lora-cpu.yaml).")] = None,
    base_model: Annotated[str | None, typer.Option(help="Override the recipe's base model (catalog name or path).")] = None,
    name: Annotated[str | None, typer.Option(help="Name of the new model version.")] = None,
):
    """LoRA fine-tune on the dataset's train split; the result is a registered model version."""
    from lextune.data.dataset import get_dataset
    from lextune.train.jobs import run_training
    from lextune.train.recipe import load_recipe

    rec = load_recipe(recipe)
    if base_model:
        rec = rec.model_copy(update={"base_model": base_model})
    store = _store()
    info = get_dataset(store, dataset)
    with ticker("training") as t:
        version = run_training(store, info, rec, name, on_step=t.step, on_status=t.info)
    skipped = version.metrics["training"]["skipped_rows"]
    if skipped:
        out.print(f"[yellow]warning[/yellow] {len(skipped)} rows left out: answer longer than max_seq_len")
    stdout.print(f"model version {version.name} ({version.id}) adapter at {version.adapter_path}")


@app.command("eval")
def evaluate_cmd(
    model: Annotated[str, typer.Option(help="'stock', 'active', or a model version name/id.")] = "active",
    dataset: Annotated[str | None, typer.Option(help="Dataset id or name (default: newest).")] = None,
    split: Annotated[str, typer.Option(help="Split to score: test, dev or train.")] = "test",
    file: Annotated[Path | None, typer.Option(help="Score any JSONL file written by `data build` instead.")] = None,
    base_model: Annotated[str | None, typer.Option(help="Base model for 'stock'.")] = None,
    limit: Annotated[int | None, typer.Option(help="Score only the first N rows.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
):
    """Score a model on held-out rows: clause typing (generation and label log-likelihood) and quoting."""
    from lextune.data.dataset import get_dataset, split_path
    from lextune.evals.evaluate import evaluate
    from lextune.registry.versions import active_version, get_version

    store = _store()
    version = None if model == "stock" else active_version(store) if model == "active" else get_version(store, model)
    if file is None:
        info = get_dataset(store, dataset)
        file, ds_id = split_path(info, split), info.id
    else:
        ds_id = None
    with ticker(f"evaluating {version.name if version else 'stock'}") as t:
        result, _ = evaluate(store, version, file, dataset_id=ds_id, base_model=base_model, limit=limit,
                             on_start=t.total, progress=t.advance)
    if json_out:
        stdout.print_json(json.dumps(result.model_dump(mode="json")))
        return
    table = Table("task", "metric", "value", title=f"{result.model} on {file}")
    for task, m in result.metrics.items():
        for k, v in m.items():
            if isinstance(v, float):
                table.add_row(task, k, f"{v:.3f}")
    stdout.print(table)


@models_app.command("list")
def models_list():
    """List model versions; the active one is marked."""
    from lextune.registry.versions import active_version, list_versions

    store = _store()
    active = active_version(store)
    table = Table("", "name", "id", "base model", "dataset", "created")
    for v in list_versions(store):
        table.add_row("*" if active and active.id == v.id else "", v.name, v.id, v.base_model, v.dataset_id,
                      v.created_at.strftime("%Y-%m-%d %H:%M"))
    stdout.print(table)
    stdout.print(f"active: {active.name if active else 'stock base model'}")


@models_app.command("activate")
def models_activate(version: Annotated[str, typer.Argument(help="Version name or id.")]):
    """Make a version the one that answers (one transaction)."""
    from lextune.registry.versions import activate

    v = activate(_store(), version)
    stdout.print(f"active: {v.name} ({v.id})")


@models_app.command("stock")
def models_stock():
    """Go back to the stock base model; nothing is deleted."""
    from lextune.registry.versions import use_stock

    use_stock(_store())
    stdout.print("active: stock base model")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question about the ingested documents.")],
    k: Annotated[int, typer.Option(help="Passages to retrieve.")] = 3,
    base_model: Annotated[str | None, typer.Option(help="Base model when no version is active.")] = None,
):
    """Answer from retrieved passages with the active model; prints citations and the model used."""
    from lextune.rag.answer import ask as ask_fn

    answer = ask_fn(_store(), question, k=k, base_model=base_model)
    stdout.print(answer.text)
    for c in answer.citations:
        stdout.print(f"  [{c.tag}] {c.mark}: {c.title} / {c.section or '(no heading)'} chars {c.start}-{c.end}")
    stdout.print(f"grounding: {answer.grounding()}")
    stdout.print(f"answered by: {answer.model}")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for report.json, report.html and the demo's state.")] = Path("lextune-demo"),
    recipe: Annotated[Path | None, typer.Option(help="YAML recipe overriding the demo's.")] = None,
):
    """Run the whole flow on the bundled CUAD sample and compare stock vs tuned."""
    from lextune.demo import run_demo
    from lextune.train.recipe import load_recipe

    run_demo(out_dir, recipe=load_recipe(recipe) if recipe else None)


def run() -> None:
    """Console-script entry point: one-line errors, exit codes, Ctrl-C without a traceback."""
    try:
        app(standalone_mode=False)
    except LextuneError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("cancelled")
        sys.exit(130)
    except Exception as e:  # click usage errors carry their own exit code and message
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Exit):
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(130)
        raise
