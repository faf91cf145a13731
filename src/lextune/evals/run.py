"""Run one evaluation task on one model: select examples, refuse training documents, predict, score, store.

Every run is a row of `eval_runs` linked to the model version, the task, a hash of the examples and the
code version; its predictions are kept in `eval_predictions`, so metrics can be recomputed (and a new
report made) without the model.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from lextune import __version__
from lextune.core import audit
from lextune.core.errors import DatasetError, LextuneError
from lextune.core.records import ModelVersion, utcnow
from lextune.core.store import Store
from lextune.core.tables import DocumentRow, EvalPredictionRow, EvalRunRow
from lextune.evals.records import Example, Prediction
from lextune.evals.tasks.base import EvalTask, Scorer
from lextune.evals.tasks.classification import stratified_sample


class TrainingDocumentsError(LextuneError):
    """Evaluation rows come from documents the model version was trained on."""


class TaskRun(BaseModel):
    """One model scored on one task: the stored row of `eval_runs`."""

    id: str
    model: str
    model_version_id: str | None = None
    task: str
    kind: str
    headline: str
    higher_is_better: bool = True
    data_hash: str
    code_version: str
    n: int
    n_docs: int
    metrics: dict[str, Any]
    baselines: dict[str, Any] = Field(default_factory=dict)
    notes: dict[str, Any] = Field(default_factory=dict)
    dataset_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    def headline_value(self) -> float | None:
        return resolve_metric(self.metrics, self.headline)


def resolve_metric(metrics: dict, key: str) -> float | None:
    """`"loglik.balanced_accuracy"` -> metrics["loglik"]["balanced_accuracy"]; None when absent."""
    node: Any = metrics
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) else None


@cache
def code_version() -> str:
    """lextune's version plus the git commit when running from a checkout ("0.1.0+60b0fb6")."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def data_hash(examples: list[Example]) -> str:
    """SHA-256 of what is asked and what counts as right: equal hashes mean comparable numbers."""
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e.id, e.prompt, e.gold, e.choices], ensure_ascii=False, sort_keys=True).encode())
    return h.hexdigest()


def select_examples(examples: list[Example], *, limit: int | None = None, sample: int | None = None,
                    seed: int = 0) -> list[Example]:
    """A stratified sample of `sample` examples (by gold label when labels are few, else spread over
    documents), then the first `limit`. Deterministic for a seed; order of the input kept."""
    chosen = examples
    if sample is not None and sample < len(examples):
        chosen = stratified_sample(examples, sample, _stratum(examples), seed)
    if limit is not None:
        chosen = chosen[:limit]
    return chosen


def _stratum(examples: list[Example]) -> Callable[[Example], Any]:
    """Stratify by gold label when labels are few (classification), else spread over documents (spans,
    free answers)."""
    if len({e.gold for e in examples if isinstance(e.gold, str)}) <= 50 and all(isinstance(e.gold, str)
                                                                                for e in examples):
        return lambda e: e.gold
    return lambda e: e.doc_id or e.id


def training_documents(store: Store, version: ModelVersion | None) -> dict[str, str]:
    """{document id: title} of every document the version's training rows came from."""
    if version is None:
        return {}
    from lextune.data.dataset import get_dataset, read_rows, split_path

    try:
        info = get_dataset(store, version.dataset_id)
    except LextuneError:
        return {}
    path = split_path(info, "train")
    if not Path(path).exists():
        return {}
    ids = {r.document_id for r in read_rows(path, store.keyring)}
    with store.session() as s:
        titles = dict(s.execute(select(DocumentRow.id, DocumentRow.title).where(DocumentRow.id.in_(ids))).all())
    return {i: titles.get(i, "") or "" for i in ids}


_DOC_SUFFIX = re.compile(r"\.(?:pdf|txt|docx?|html?|md|eml|json)$", re.IGNORECASE)


def _norm_title(t: str) -> str:
    """"ACME_10-K_EX-10.4-License Agreement.pdf" and "acme 10-k ex-10.4-license agreement" are one title
    (only a file extension is dropped: titles hold dots of their own, "EX-10.4")."""
    return " ".join(_DOC_SUFFIX.sub("", t.strip()).lower().replace("_", " ").split()) if t else ""


def overlap_with_training(examples: list[Example], train_docs: dict[str, str]) -> dict[str, list[str]]:
    """{document: [example ids]} for examples whose document (id, or title for public benchmarks that
    name the contract, like LegalBench's cuad_* `document_name`) was in the training rows."""
    titles = {_norm_title(t): i for i, t in train_docs.items() if t}
    out: dict[str, list[str]] = defaultdict(list)
    for e in examples:
        if not e.doc_id:
            continue
        if e.doc_id in train_docs or _norm_title(e.doc_id) in titles:
            out[e.doc_id].append(e.id)
    return dict(out)


def refuse_training_documents(examples: list[Example], train_docs: dict[str, str], label: str, *,
                              allow: bool) -> dict[str, list[str]]:
    """Raise TrainingDocumentsError naming the documents and examples, unless `allow` (then return them,
    to be reported with the run)."""
    overlap = overlap_with_training(examples, train_docs)
    if overlap and not allow:
        n = sum(len(v) for v in overlap.values())
        shown = "; ".join(f"{d}: {', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''}"
                          for d, ids in list(overlap.items())[:5])
        raise TrainingDocumentsError(
            f"{n} example(s) of {label} come from {len(overlap)} document(s) the model version was trained on "
            f"({shown}{' ...' if len(overlap) > 5 else ''}); scores on them would flatter the model. "
            "Evaluate on held-out documents, or pass --allow-train-docs to score anyway (reported with the run).")
    return overlap


def run_task(
    store: Store | None, task: EvalTask, scorer: Scorer, *, model_label: str, version: ModelVersion | None = None,
    examples: list[Example] | None = None, limit: int | None = None, sample: int | None = None,
    allow_train_docs: bool = False, skip_train_docs: bool = False, train_docs: dict[str, str] | None = None,
    dataset_id: str | None = None, on_start: Callable[[int], None] | None = None, progress: Callable[[int], None] | None = None,
) -> tuple[TaskRun, list[Prediction]]:
    """Score `scorer` on `task`; the run and its predictions are stored when `store` is given.

    `examples` already selected by the caller are used as given (`limit`/`sample` are then only recorded).
    """
    if examples is None:
        examples = select_examples(task.load(), limit=limit, sample=sample)
    if not examples:
        raise DatasetError(f"{task.label}: no examples to evaluate")
    if train_docs is None and store is not None:
        train_docs = training_documents(store, version)
    skipped: dict[str, list[str]] = {}
    if skip_train_docs:
        skipped = overlap_with_training(examples, train_docs or {})
        dropped = {i for ids in skipped.values() for i in ids}
        examples = [e for e in examples if e.id not in dropped]
        if not examples:
            raise DatasetError(f"{task.label}: every example comes from a document the model was trained on")
    overlap = refuse_training_documents(examples, train_docs or {}, task.label, allow=allow_train_docs)
    if on_start:
        on_start(task.work_units(examples))
    preds = task.predict(scorer, examples, progress)
    if len(preds) != len(examples):
        raise RuntimeError(f"{task.label}: {len(preds)} predictions for {len(examples)} examples")
    metrics = task.score(preds)
    notes: dict[str, Any] = {}
    if overlap:
        notes["train_docs_allowed"] = {"documents": len(overlap), "examples": sum(len(v) for v in overlap.values()),
                                       "ids": sorted(overlap)[:50]}
    if skipped:
        notes["train_docs_skipped"] = {"documents": len(skipped), "examples": sum(len(v) for v in skipped.values())}
    if limit is not None or sample is not None:
        notes["selection"] = {"limit": limit, "sample": sample}
    truncated = getattr(scorer, "truncated", 0)
    if truncated:
        notes["prompts_truncated"] = truncated
    run = TaskRun(
        id="ev-" + uuid.uuid4().hex[:12], model=model_label, model_version_id=version.id if version else None,
        task=task.label, kind=task.kind, headline=task.headline, higher_is_better=task.higher_is_better,
        data_hash=data_hash(examples), code_version=code_version(), n=len(examples),
        n_docs=len({e.doc_id or e.id for e in examples}), metrics=metrics, baselines=task.baselines(examples),
        notes=notes, dataset_id=dataset_id,
    )
    if store is not None:
        save_run(store, run, preds, dataset_path=str(task.source or ""))
    return run, preds


def save_run(store: Store, run: TaskRun, preds: list[Prediction], dataset_path: str = "") -> None:
    with store.session() as s:
        s.add(EvalRunRow(
            id=run.id, model=run.model, model_version_id=run.model_version_id, dataset_id=run.dataset_id,
            dataset_path=dataset_path, split="", metrics=run.metrics, created_at=run.created_at, task=run.task,
            kind=run.kind, data_hash=run.data_hash, code_version=run.code_version, n=run.n,
            baselines=run.baselines,
            notes={**run.notes, "headline": run.headline, "higher_is_better": run.higher_is_better,
                   "n_docs": run.n_docs},
        ))
        s.flush()
        s.add_all(EvalPredictionRow(run_id=run.id, idx=i, example_id=p.example_id, doc_id=p.doc_id,
                                    payload=p.model_dump(mode="json")) for i, p in enumerate(preds))
        audit.record(s, "eval", run.id, {"model": run.model, "task": run.task, "n": run.n,
                                         "train_docs_allowed": run.notes.get("train_docs_allowed")})


def load_predictions(store: Store, run_id: str) -> list[Prediction]:
    with store.session() as s:
        rows = s.scalars(select(EvalPredictionRow).where(EvalPredictionRow.run_id == run_id)
                         .order_by(EvalPredictionRow.idx)).all()
        return [Prediction.model_validate(r.payload) for r in rows]


def list_runs(store: Store, model_version_id: str | None = None) -> list[TaskRun]:
    """Stored task runs (new style), newest last; of one version when given."""
    with store.session() as s:
        q = select(EvalRunRow).where(EvalRunRow.task.is_not(None)).order_by(EvalRunRow.created_at)
        if model_version_id is not None:
            q = q.where(EvalRunRow.model_version_id == model_version_id)
        out = []
        for r in s.scalars(q):
            notes = dict(r.notes or {})
            out.append(TaskRun(
                id=r.id, model=r.model, model_version_id=r.model_version_id, task=r.task or "", kind=r.kind or "",
                headline=notes.pop("headline", ""), higher_is_better=notes.pop("higher_is_better", True),
                data_hash=r.data_hash or "", code_version=r.code_version or "", n=r.n or 0,
                n_docs=notes.pop("n_docs", 0), metrics=r.metrics, baselines=r.baselines or {}, notes=notes,
                dataset_id=r.dataset_id, created_at=r.created_at))
        return out
