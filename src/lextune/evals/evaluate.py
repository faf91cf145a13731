"""Evaluate the stock model or a model version on a dataset split or any dataset file."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from lextune.core import audit
from lextune.core.errors import DatasetError
from lextune.core.records import DatasetRow, EvalResult, ModelVersion
from lextune.core.store import Store
from lextune.core.tables import EvalRunRow
from lextune.data.dataset import read_rows
from lextune.evals.runner import Prediction, predict, score, work_units
from lextune.registry.loading import load_version

SCORED_TASKS = ("clause_type", "clause_quote")


def labels_of(rows) -> list[str]:
    """The clause-type label set: the choices offered in the rows (fixed order)."""
    for r in rows:
        if r.task == "clause_type" and r.choices:
            return list(r.choices)
    return sorted({r.answer for r in rows if r.task == "clause_type"})


def per_task_sample(rows: list[DatasetRow], caps: dict[str, int]) -> list[DatasetRow]:
    """At most caps[task] rows of each task, evenly spaced so every document stays represented."""
    out: list[DatasetRow] = []
    for task in dict.fromkeys(r.task for r in rows):
        task_rows = [r for r in rows if r.task == task]
        cap = caps.get(task, len(task_rows))
        step = max(1.0, len(task_rows) / max(cap, 1))
        out += [task_rows[int(i * step)] for i in range(min(cap, len(task_rows)))]
    return out


def evaluate(
    store: Store, version: ModelVersion | None, dataset_file: Path, *, dataset_id: str | None = None,
    base_model: str | None = None, limit: int | None = None, per_task: dict[str, int] | None = None,
    on_start: Callable[[int], None] | None = None, progress: Callable[[int], None] | None = None,
    model_bundle=None,
) -> tuple[EvalResult, list[Prediction]]:
    """Score one model on a dataset file; the run is stored and returned with its predictions.

    `model_bundle` (model, tokenizer, label) skips loading when the caller already holds it.
    """
    rows = read_rows(dataset_file)
    # Only clause typing and quoting have scorers yet; other tasks are counted, not silently lost.
    not_scored: dict[str, int] = {}
    for r in rows:
        if r.task not in SCORED_TASKS:
            not_scored[r.task] = not_scored.get(r.task, 0) + 1
    rows = [r for r in rows if r.task in SCORED_TASKS]
    if per_task:
        rows = per_task_sample(rows, per_task)
    if limit:
        rows = rows[:limit]
    if not rows:
        raise DatasetError(f"{dataset_file}: no rows to evaluate")
    model, tokenizer, label = model_bundle or load_version(version, base_model, store.settings)
    if on_start:
        on_start(work_units(rows))
    preds = predict(model, tokenizer, rows, progress)
    metrics = score(preds, labels_of(rows))
    if not_scored:
        metrics["not_scored"] = not_scored
    result = EvalResult(
        id="ev-" + uuid.uuid4().hex[:12], model=label, model_version_id=version.id if version else None,
        dataset_id=dataset_id, dataset_path=str(dataset_file), split=rows[0].split, metrics=metrics,
    )
    with store.session() as s:
        s.add(EvalRunRow(**result.model_dump()))
        audit.record(s, "eval", result.id, {"model": label, "dataset": str(dataset_file)})
    return result, preds
