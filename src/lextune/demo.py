"""`lextune demo`: the whole flow on the bundled CUAD sample, stock vs tuned, with a report."""

from __future__ import annotations

import os
import platform
import time
from importlib import resources
from pathlib import Path

import torch
from rich.table import Table

from lextune.core.atomic import write_json
from lextune.core.config import get_settings
from lextune.core.records import utcnow
from lextune.core.store import Store
from lextune.data.dataset import (
    DEFAULT_CLAUSE_TYPES,
    BuildConfig,
    build_dataset,
    read_manifest,
    read_rows,
    split_path,
)
from lextune.evals.compare import compare
from lextune.evals.evaluate import evaluate, labels_of, per_task_sample
from lextune.evals.report_html import write_report_html
from lextune.models.loading import base_model_dir
from lextune.progress import console, ticker
from lextune.rag.answer import ask
from lextune.registry.versions import activate, update_metrics
from lextune.train.jobs import run_training
from lextune.train.recipe import Recipe
from lextune.vault.vault import Vault

# Sized for a 2-core CPU: one epoch over the demo's ~700 training rows fits the 15-minute budget
# together with anonymization and both evaluations; see README "Demo figures".
DEMO_RECIPE = Recipe(epochs=1.0, batch_size=8, learning_rate=4e-4, max_seq_len=384)
# The demo's dataset: the clause rows the evaluation scores, mixed with lawyer-style Yes/No clause
# questions, cited answers and self-supervised instruction pairs from the same contracts; every
# row anonymized (the default) and deduplicated. Training rows are capped per task to fit the budget.
DEMO_BUILD = BuildConfig(
    name="demo",
    builders=["clauses", "clause_questions", "cited_qa", "instructions"],
    clause_types=DEFAULT_CLAUSE_TYPES,
    # Short excerpts and quotes keep every row inside the recipe's 384 tokens (a longer prompt would be
    # cut, and a quote cut out of its excerpt teaches the model to invent); "Not found" shares stay
    # modest so the small model does not learn that silence is the safe answer.
    options={
        "clauses": {"excerpt_chars": 400, "max_clause_chars": 250, "not_found_share": 0.15, "max_per_type": 5},
        "clause_questions": {"max_clause_chars": 500},
        "cited_qa": {"passages": 3, "passage_chars": 250, "max_quote_chars": 250, "unanswerable_share": 0.2},
        "instructions": {"tasks": ["body_to_heading", "define_term", "fill_masked_span"], "rows_per_chunk": 1,
                         "max_chunk_chars": 600},
    },
    max_rows_per_task={"clause_type": 250, "clause_quote": 170, "clause_question": 100, "cited_qa": 70,
                       "body_to_heading": 20, "define_term": 20, "fill_masked_span": 20},
)
# Capping held-out rows per task (evenly spaced over the test contracts) keeps two evaluations,
# stock and tuned, inside the demo's 15-minute budget on 2 cores; `lextune eval` scores all rows.
EVAL_ROWS_PER_TASK = {"clause_type": 120, "clause_quote": 30}
DEMO_QUESTION = "Which state's law governs the agreement?"


def sample_path() -> Path:
    return Path(str(resources.files("lextune") / "demo_data" / "cuad_sample.json.gz"))


def run_demo(out_dir: Path, recipe: Recipe | None = None, build: BuildConfig | None = None) -> dict:
    """Ingest, build, evaluate stock, train, evaluate tuned, activate, ask; write the reports."""
    started = time.perf_counter()
    out_dir = out_dir.resolve()
    # Always its own state folder: the demo must never write into (or activate a version in) the
    # user's LEXTUNE_HOME.
    os.environ["LEXTUNE_HOME"] = str(out_dir / "home")
    settings = get_settings()
    settings.ensure_dirs()
    store = Store(settings)
    recipe = recipe or DEMO_RECIPE
    console.print(f"[bold]lextune demo[/bold]: state in {settings.home}")

    report = Vault(store).ingest([sample_path()])
    console.print(f"1/6 vault: {len(report.added)} contracts added, {len(report.duplicates)} already there, "
                  f"{report.n_chunks} chunks, {len(report.warnings)} annotations skipped")
    with ticker("2/6 building the dataset (anonymize, build, dedup, leak check)") as t:
        def on_progress(stage: str, done: int, total: int) -> None:
            t.info(stage)
            t.total(total)
            t.set(done)

        info = build_dataset(store, build or DEMO_BUILD, on_progress=on_progress)
    manifest = read_manifest(info)
    console.print(f"2/6 dataset {info.id}: " + ", ".join(f"{sp} {sum(c.values())} rows" for sp, c in info.counts.items()))
    console.print(f"    train rows per task: {info.counts['train']}")
    console.print(f"    anonymized: {manifest['anonymization'].get('redactions', 'off')}; dedup: "
                  f"{manifest['dedup']['cross_split_dropped'] + sum(manifest['dedup']['cross_split_rows_dropped'].values())}"
                  " train rows dropped (passage or row repeated in a held-out contract), "
                  f"{sum(manifest['dedup']['near_duplicate_rows_dropped'].values())} near-duplicate rows dropped; "
                  "leakage check passed", highlight=False)
    test_file = split_path(info, "test")
    test_rows = per_task_sample(read_rows(test_file), EVAL_ROWS_PER_TASK)
    labels = labels_of(test_rows)

    def run_eval(title: str, version):
        with ticker(title) as t:
            return evaluate(store, version, test_file, dataset_id=info.id, base_model=recipe.base_model,
                            per_task=EVAL_ROWS_PER_TASK, on_start=t.total, progress=t.advance)

    console.print("preparing the base model (the first run de-quantizes the bundled GGUF once)")
    base_model_dir(recipe.base_model, settings)
    stock, stock_preds = run_eval("3/6 stock model on held-out contracts", None)
    with ticker("4/6 LoRA fine-tuning") as t:
        version = run_training(store, info, recipe, on_step=t.step, on_status=t.info)
    tuned, tuned_preds = run_eval(f"5/6 {version.name} on held-out contracts", version)
    update_metrics(store, version.id, {"eval": {"dataset": info.id, "split": "test", **tuned.metrics}})
    activate(store, version.name)
    answer = ask(store, DEMO_QUESTION, base_model=recipe.base_model)
    console.print(f"6/6 activated {version.name}; asked: {DEMO_QUESTION}")

    tasks = compare(stock_preds, tuned_preds, stock.metrics, tuned.metrics, labels)
    full = {
        "title": "lextune demo: stock vs tuned on held-out CUAD contracts",
        "created_at": utcnow().isoformat(timespec="seconds"),
        "base_model": version.base_model, "model_version": f"{version.name} ({version.id})",
        "dataset": {"id": info.id, "sha256": info.sha256, "path": info.path, "counts": info.counts,
                    "anonymization": manifest["anonymization"], "dedup": manifest["dedup"]},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "tasks": tasks,
        "stock": {k: _headline(v) for k, v in stock.metrics.items()},
        "tuned": {k: _headline(v) for k, v in tuned.metrics.items()},
        "training": {"loss_curve": version.metrics["training"]["loss_curve"],
                     "seconds": version.metrics["training"]["seconds"],
                     "rows": sum(info.counts["train"].values())},
        "examples": _examples(test_rows, stock_preds, tuned_preds),
        "ask": answer.model_dump(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "report.json", full)
    write_report_html(full, out_dir / "report.html")
    _print_summary(full, answer, out_dir)
    return full


def _headline(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not isinstance(v, dict)}


def _examples(rows, stock_preds, tuned_preds, n: int = 6) -> list[dict]:
    picked, seen = [], set()
    for r, s, t in zip(rows, stock_preds, tuned_preds):
        if (r.task, r.label) in seen:
            continue
        seen.add((r.task, r.label))
        picked.append({"task": r.task, "input": r.messages[-2]["content"], "gold": r.answer,
                       "stock": s.generated, "tuned": t.generated})
        if len(picked) == n:
            break
    return picked


def _print_summary(full: dict, answer, out_dir: Path) -> None:
    table = Table("task", "metric", "stock", "tuned", "delta [95% CI]", title="held-out contracts")
    for task, entry in full["tasks"].items():
        for m, ci in entry["ci"].items():
            d, lo, hi = ci["delta"]
            table.add_row(task, m, f"{entry['stock'][m]:.3f}", f"{entry['tuned'][m]:.3f}",
                          f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    console.print(table)
    console.print(f"[bold]ask[/bold] {answer.question}\n{answer.text}")
    for c in answer.citations:
        console.print(f"  [{c.tag}] {c.mark}: {c.title[:70]} / {c.section[:50]}")
    console.print(f"grounding: {answer.grounding()}")
    console.print(f"answered by: {answer.model}")
    console.print(f"report: {out_dir / 'report.json'} and {out_dir / 'report.html'} ({full['seconds']} s)")
