"""`lextune demo`: the whole flow on the bundled CUAD sample, stock vs tuned, with a report."""

from __future__ import annotations

import os
import platform
import time
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

import torch

from lextune.core import audit
from lextune.core.atomic import write_json
from lextune.core.config import get_settings
from lextune.core.store import Store
from lextune.data.dataset import (
    DEFAULT_CLAUSE_TYPES,
    BuildConfig,
    build_dataset,
    read_manifest,
    split_path,
)
from lextune.evals.promotion import save_comparison
from lextune.evals.report_compare import render_comparison_terminal, write_comparison_html
from lextune.evals.session import compare_models, load_model
from lextune.evals.tasks import make_task
from lextune.evals.tasks.forgetting import default_mmlu_dir
from lextune.models.loading import base_model_dir
from lextune.progress import console, ticker
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
# Held-out examples scored per task (a stratified sample over the test contracts), sized so that both
# models' evaluations fit the demo's 15-minute budget on 2 cores; `lextune eval` scores all rows.
N_RESAMPLES = 1000
EVAL_SAMPLE = {"clause_type": 120, "clause_quote": 40, "clause_question": 60, "forgetting": 24, "mmlu": 96}
DEMO_QUESTION = "Which state's law governs the agreement?"


def sample_path() -> Path:
    return Path(str(resources.files("lextune") / "demo_data" / "cuad_sample.json.gz"))


def run_demo(out_dir: Path, recipe: Recipe | None = None, build: BuildConfig | None = None) -> dict:
    """Ingest, build, train, compare stock vs tuned on held-out contracts and general ability, gate,
    activate, ask; write the reports."""
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
    manifest = read_manifest(info, store.keyring)
    console.print(f"2/6 dataset {info.id}: " + ", ".join(f"{sp} {sum(c.values())} rows" for sp, c in info.counts.items()))
    console.print(f"    train rows per task: {info.counts['train']}")
    console.print(f"    anonymized: {manifest['anonymization'].get('redactions', 'off')}; dedup: "
                  f"{manifest['dedup']['cross_split_dropped'] + sum(manifest['dedup']['cross_split_rows_dropped'].values())}"
                  " train rows dropped (passage or row repeated in a held-out contract), "
                  f"{sum(manifest['dedup']['near_duplicate_rows_dropped'].values())} near-duplicate rows dropped; "
                  "leakage check passed", highlight=False)
    test_file = split_path(info, "test")
    console.print("preparing the base model (the first run de-quantizes the bundled GGUF once)")
    base_model_dir(recipe.base_model, settings)
    with ticker("3/6 LoRA fine-tuning") as t:
        version = run_training(store, info, recipe, on_step=t.step, on_status=t.info)
    tasks = [make_task(f"{name}:{test_file}") for name in ("clause_type", "clause_quote", "clause_question")]
    tasks += [make_task("forgetting"), make_task(f"mmlu:{default_mmlu_dir()}")]
    stock = load_model(store, "stock", recipe.base_model)
    tuned = load_model(store, version.id, recipe.base_model)

    def on_task(side: str, task, units: int):
        stack = ExitStack()
        who = "stock" if side == "a" else version.name
        t = stack.enter_context(ticker(f"4/6 {who} on {task.label}", total=units))
        return t.advance, stack.close

    comparison = compare_models(store, stock, tuned, tasks, sample=EVAL_SAMPLE, dataset_id=info.id,
                                n_resamples=N_RESAMPLES, on_task=on_task)
    save_comparison(store, comparison)
    verdict = comparison["verdict"]
    headline = {e["task"]: {"headline": e["headline"], "stock": e["a"].get(e["headline"]),
                            "tuned": e["b"].get(e["headline"])} for e in comparison["tasks"]}
    update_metrics(store, version.id, {"eval": {"dataset": info.id, "split": "test", "comparison": comparison["id"],
                                                "headline": headline}})
    console.print(f"5/6 promotion gate: {'passed' if verdict['passed'] else 'failed'}")
    if not verdict["passed"]:
        # The demo goes on to show serving with the tuned version; a real activation would need --force.
        with store.session() as s:
            audit.record(s, "model.activate.forced", version.id, {"reason": "demo: shows serving after a failed gate"})
    activate(store, version.name)
    console.print(f"6/6 activated {version.name}; starting the service and asking through the openai client")
    answer = ask_through_service(store, DEMO_QUESTION, recipe.base_model)

    full = {
        **comparison,
        "title": "lextune demo: stock vs tuned on held-out CUAD contracts",
        "base_model": version.base_model, "model_version": f"{version.name} ({version.id})",
        "dataset": {"id": info.id, "sha256": info.sha256, "path": info.path, "counts": info.counts,
                    "anonymization": manifest["anonymization"], "dedup": manifest["dedup"]},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "training": {"loss_curve": version.metrics["training"]["loss_curve"],
                     "seconds": version.metrics["training"]["seconds"],
                     "rows": sum(info.counts["train"].values())},
        "ask": answer,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "report.json", full)
    write_comparison_html(full, out_dir / "report.html")
    _print_summary(full, answer, out_dir)
    return full


def ask_through_service(store, question: str, base_model: str | None) -> dict:
    """Start `lextune serve` in this process, ask one question with retrieval through the official
    `openai` client, and return what came back: the answer and lextune's trace (model version,
    retrieved passages, verified citations)."""
    import openai

    from lextune.serve.app import create_app
    from lextune.serve.background import live_server
    from lextune.serve.config import ServeConfig

    app = create_app(store, ServeConfig(base_model=base_model))
    with live_server(app) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=600)
        # BM25 and 3 passages: one question does not repay embedding the whole vault (about 90 s on
        # 2 cores for the demo's contracts); `"mode": "hybrid"` (the default) adds the MiniLM vectors.
        reply = client.chat.completions.create(
            model="active", messages=[{"role": "user", "content": question}], max_tokens=160,
            extra_body={"lextune": {"retrieve": True, "k": 3, "mode": "bm25"}})
    return {"question": question, "url": server.base_url, "text": reply.choices[0].message.content,
            "model": reply.model, "lextune": reply.model_extra["lextune"]}


def _print_summary(full: dict, answer: dict, out_dir: Path) -> None:
    console.print(render_comparison_terminal(full))
    trace = answer["lextune"]
    console.print(f"[bold]asked through the service[/bold] ({answer['url']}, openai client): {answer['question']}")
    console.print(answer["text"])
    shown = {p["chunk_id"]: p for p in trace["retrieval"]["passages"]}
    for c in trace["citations"]:
        p = shown.get(c["chunk_id"] or "", {})
        verdict = f"verified ({c['evidence']})" if c["supported"] else f"rejected ({c['evidence']})"
        console.print(f"  [{c['number']}] {verdict}: {p.get('title', '?')[:60]} / {p.get('section', '')[:40]} "
                      f"chars {c['start']}-{c['end']}")
    if trace.get("refused"):
        console.print(f"  refused: {trace.get('refusal_reason')}")
    console.print(f"answered by: {trace['model_version']} (fine-tuned: {trace['fine_tuned']}, "
                  f"adapter {trace['adapter']}); retrieved {len(trace['retrieved'])} passages")
    console.print(f"report: {out_dir / 'report.json'} and {out_dir / 'report.html'} ({full['seconds']} s)")