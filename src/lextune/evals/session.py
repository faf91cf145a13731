"""The evaluation stage's entry points for the CLI and the demo: evaluate one model, compare two.

A model is named as on the command line: "stock", "active", or a version name/id. Tasks are named as
`name[:SOURCE]` (see lextune.evals.tasks); without tasks, the test split of the dataset the model
version was trained on is scored (never simply the newest dataset, which may split documents
differently), every row task by its scorer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lextune.core.config import EVAL_CACHE
from lextune.core.errors import DatasetError
from lextune.core.records import ModelVersion, utcnow
from lextune.core.store import Store
from lextune.evals.records import Example, Prediction
from lextune.evals.run import (
    TaskRun,
    code_version,
    overlap_with_training,
    run_task,
    select_examples,
    training_documents,
)
from lextune.evals.tasks import make_task
from lextune.evals.tasks.base import EvalTask

Progress = Callable[[int], None]


@dataclass
class LoadedModel:
    label: str
    version: ModelVersion | None
    scorer: Any  # a Scorer


def resolve_version(store: Store, ref: str) -> ModelVersion | None:
    from lextune.registry.versions import active_version, get_version

    if ref == "stock":
        return None
    if ref == "active":
        return active_version(store)
    return get_version(store, ref)


def load_model(store: Store, ref: str, base_model: str | None = None, batch_size: int = 8,
               cache: bool = True, generate_batch_size: int | None = None) -> LoadedModel:
    """The model named `ref` wrapped as a cached Scorer (results cached per model, task prompt, example)."""
    from lextune.evals.engine import ModelScorer
    from lextune.evals.result_cache import CachedScorer
    from lextune.registry.loading import load_version

    version = resolve_version(store, ref)
    model, tokenizer, label = load_version(version, base_model, store.settings)
    key = f"{version.id}:{version.base_model}" if version else f"stock:{label}"
    extra = {"generate_batch_size": generate_batch_size} if generate_batch_size else {}
    scorer: Any = ModelScorer(model, tokenizer, key=key, batch_size=batch_size, **extra)
    if cache:
        scorer = CachedScorer(scorer, store.settings.home / EVAL_CACHE, keyring=store.keyring)  # values sealed
    return LoadedModel(label=version.name if version else label, version=version, scorer=scorer)


def dataset_of(store: Store, version: ModelVersion | None, dataset: str | None):
    """The dataset to score: the one named, else the one `version` was trained on, else the newest."""
    from lextune.data.dataset import get_dataset

    if dataset is not None:
        return get_dataset(store, dataset)
    return get_dataset(store, version.dataset_id if version else None)


def tasks_from(store: Store, specs: list[str] | None, version: ModelVersion | None, dataset: str | None,
               split: str, row_tasks: list[str] | None = None, options: dict | None = None
               ) -> tuple[list[EvalTask], str | None]:
    """(tasks, dataset id): the named tasks, or every row task of the dataset split plus the general-ability
    tasks (forgetting KL, MMLU general sample) that the promotion gate checks."""
    from lextune.data.dataset import split_path
    from lextune.evals.dataset_tasks import tasks_for_file

    if specs:
        return [make_task(s, **(options or {})) for s in specs], None
    info = dataset_of(store, version, dataset)
    path = split_path(info, split)
    if not path.exists():
        raise DatasetError(f"{path}: dataset {info.id} has no {split} split")
    # With the firm's tasks, what the gate needs to say "it did not hurt": drift from the base model and
    # the shipped general MMLU sample.
    from lextune.evals.tasks.forgetting import default_mmlu_dir

    general = [] if row_tasks else [make_task("forgetting"), make_task(f"mmlu:{default_mmlu_dir()}")]
    return tasks_for_file(path, row_tasks) + general, info.id


Sample = int | dict[str, int] | None  # one size for every task, or per task name ("clause_type": 120)


def _sample_for(task: EvalTask, sample: Sample) -> int | None:
    return sample.get(task.name) if isinstance(sample, dict) else sample


def evaluate_model(
    store: Store, model: LoadedModel, tasks: list[EvalTask], *, limit: int | None = None, sample: Sample = None,
    allow_train_docs: bool = False, skip_train_docs: bool = False,
    dataset_id: str | None = None, on_task: Callable[[EvalTask, int], tuple[Progress, Callable[[], None]]] | None = None,
) -> list[tuple[TaskRun, list[Prediction]]]:
    """Run every task on one model; `on_task(task, units)` returns (advance, done) progress callbacks."""
    train_docs = training_documents(store, model.version)
    out = []
    for task in tasks:
        examples = select_examples(task.load(), limit=limit, sample=_sample_for(task, sample))
        advance, done = on_task(task, task.work_units(examples)) if on_task else (None, lambda: None)
        try:  # the progress bar ends also when the task is refused or fails
            run, preds = run_task(store, task, model.scorer, model_label=model.label, version=model.version,
                                  examples=examples, limit=limit, sample=_sample_for(task, sample),
                                  allow_train_docs=allow_train_docs, skip_train_docs=skip_train_docs,
                                  train_docs=train_docs, dataset_id=dataset_id, progress=advance)
        finally:
            done()
        out.append((run, preds))
    return out


def compare_models(
    store: Store, a: LoadedModel, b: LoadedModel, tasks: list[EvalTask], *, limit: int | None = None,
    sample: Sample = None, allow_train_docs: bool = False, skip_train_docs: bool = False, gate_path: Path | None = None,
    dataset_id: str | None = None, n_resamples: int = 1000,
    on_task: Callable[[str, EvalTask, int], tuple[Progress, Callable[[], None]]] | None = None,
) -> dict:
    """Both models on the same examples of every task; the comparison report (JSON-able dict)."""
    from lextune.evals.comparison import compare_task
    from lextune.evals.gate import default_gate_path, evaluate_gate, load_gate

    # The gate first: a typo in it must fail before minutes of scoring, not after.
    gate = load_gate(gate_path or default_gate_path())
    # Training documents of either model are off limits: A's for A's numbers, B's for B's.
    train_a, train_b = training_documents(store, a.version), training_documents(store, b.version)
    entries, kl_per_prompt = [], None
    for task in tasks:
        examples: list[Example] = select_examples(task.load(), limit=limit, sample=_sample_for(task, sample))
        skipped = 0
        if skip_train_docs:
            # Both models must see the same examples: drop those of either model's training documents.
            dropped = {i for ids in overlap_with_training(examples, {**train_a, **train_b}).values() for i in ids}
            skipped, examples = len(dropped), [e for e in examples if e.id not in dropped]
            if not examples:
                raise DatasetError(f"{task.label}: every example comes from a training document of A or B")
        results = {}
        for side, model, train in (("a", a, train_a), ("b", b, train_b)):
            advance, done = on_task(side, task, task.work_units(examples)) if on_task else (None, lambda: None)
            try:
                results[side] = run_task(store, task, model.scorer, model_label=model.label,
                                         version=model.version, examples=examples, limit=limit,
                                         sample=_sample_for(task, sample), allow_train_docs=allow_train_docs,
                                         train_docs=train, dataset_id=dataset_id, progress=advance)
            finally:
                done()
        (run_a, preds_a), (run_b, preds_b) = results["a"], results["b"]
        entry = compare_task(task, preds_a, preds_b, run_a.metrics, run_b.metrics, baselines=run_a.baselines,
                             n_resamples=n_resamples, correct=correct_for(task))
        entry["runs"] = {"a": run_a.id, "b": run_b.id}
        entry["notes"] = {"a": run_a.notes, "b": run_b.notes, "train_docs_skipped": skipped}
        entries.append(entry)
        if task.kind == "forgetting":
            kl_per_prompt = [p.meta["kl"] for p in preds_b]
    report = {
        "a": _model_card(a), "b": _model_card(b), "tasks": entries, "created_at": utcnow().isoformat(),
        "code_version": code_version(), "gate_file": str(gate_path or default_gate_path()),
    }
    report["forgetting"] = _forgetting_panel(entries, kl_per_prompt, gate)
    report["verdict"] = evaluate_gate(gate, report).model_dump()
    return report


def correct_for(task: EvalTask) -> Callable[[Prediction], bool | None]:
    """Whether one answer is right, for the report's "newly right / newly wrong" examples."""
    from lextune.evals.comparison import default_correct
    from lextune.evals.scoring.span import OVERLAP_THRESHOLD, best_match, gold_answers, is_not_found

    if task.kind == "span":
        def span_correct(p: Prediction) -> bool | None:
            golds = gold_answers(p.gold)
            if p.generated is None:
                return None
            if not golds:
                return is_not_found(p.generated)
            return not is_not_found(p.generated) and best_match(p.generated, golds)[0] >= OVERLAP_THRESHOLD

        return span_correct
    if task.kind in ("forgetting", "reference", "cited_qa"):
        return lambda p: None  # no single right answer per example: the metrics carry it
    return default_correct


def _model_card(m: LoadedModel) -> dict:
    v = m.version
    return {"label": m.label, "version_id": v.id if v else None, "base_model": v.base_model if v else m.label,
            "dataset_id": v.dataset_id if v else None}


def _forgetting_panel(entries: list[dict], kl_per_prompt: list[float] | None, gate) -> dict:
    """The report's forgetting panel: B's KL (per prompt too) and MMLU, with the gate's bounds."""
    panel: dict[str, Any] = {}
    for e in entries:
        if e.get("kind") == "forgetting":
            panel["kl"] = {"a": e["a"].get("kl"), "b": e["b"].get("kl"), "ci": e.get("ci", {}).get("kl"),
                           "per_prompt": kl_per_prompt or [],
                           "max_kl": gate.forgetting.max_kl if gate.forgetting else None}
        elif e.get("kind") == "multiple_choice" and str(e.get("task", "")).startswith("mmlu"):
            panel.setdefault("mmlu", []).append({"task": e["task"], "a": e["a"].get("accuracy"),
                                                 "b": e["b"].get("accuracy"), "ci": e.get("ci", {}).get("accuracy"),
                                                 "max_drop": gate.general.max_drop if gate.general else None})
    return panel
