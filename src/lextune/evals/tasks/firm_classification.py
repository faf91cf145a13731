"""The firm's own classification rows: clause typing and lawyers' Yes/No clause questions.

SOURCE is a dataset JSONL written by `lextune data build` (a split file such as test.jsonl), or the
dataset folder, whose `split` option (default "test") names the file. The prompt is the row's chat
messages without the final assistant answer, exactly what training showed, and the labels are the row's
choices; the document is the bootstrap cluster.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from lextune.core.errors import DatasetError
from lextune.core.records import DatasetRow
from lextune.data import prompts
from lextune.data.dataset import read_rows
from lextune.evals.records import Example, Prediction
from lextune.evals.tasks.base import Scorer, register_task
from lextune.evals.tasks.classification import ClassificationTask

# Content-free input for calibration (Zhao et al. 2021, "Calibrate Before Use"), as in evals/runner.py:
# the label scores a model gives with no passage at all are its prior; subtracting them removes a small
# model's bias toward one label, so the stock model is not judged on that bias alone.
CONTENT_FREE = "N/A"


def prompt_of(row: DatasetRow) -> list[dict[str, str]]:
    """The row's messages up to, not including, the answer the model is asked for."""
    return row.messages[:-1] if row.messages and row.messages[-1]["role"] == "assistant" else list(row.messages)


class FirmRowsTask(ClassificationTask):
    """Rows of one task of a built dataset, as classification examples."""

    row_task: ClassVar[str] = ""
    default_choices: ClassVar[tuple[str, ...]] = ()

    def dataset_file(self) -> Path:
        if not self.source:
            raise DatasetError(f"{self.name} needs a dataset file: {self.name}:PATH/TO/test.jsonl")
        path = Path(self.source)
        return path / f"{self.options.get('split', 'test')}.jsonl" if path.is_dir() else path

    def load(self) -> list[Example]:
        path = self.dataset_file()
        rows = [r for r in read_rows(path) if r.task == self.row_task]
        if not rows:
            raise DatasetError(f"{path}: no {self.row_task} rows")
        examples = []
        for r in rows:
            choices = list(r.choices or self.default_choices)
            if not choices:
                raise DatasetError(f"{path}: row {r.id} has no choices")
            if r.answer not in choices:
                raise DatasetError(f"{path}: row {r.id}: answer {r.answer!r} is not one of its choices {choices}")
            meta = {"row_id": r.id, "split": r.split}
            if clause_type := r.meta.get("clause_type") or (r.label if self.row_task == "clause_type" else None):
                meta["clause_type"] = clause_type
            # Chat prompts: each choice is the whole assistant answer, as the rows trained it.
            examples.append(Example(id=r.id, task=self.label, prompt=prompt_of(r), gold=r.answer, choices=choices,
                                    labels=choices, doc_id=r.document_id, meta=meta))
        return examples


@register_task("clause_type")
class ClauseTypeTask(FirmRowsTask):
    """Which CUAD clause type is this passage? Also scored with a content-free-calibrated view."""

    row_task = "clause_type"

    def add_views(self, scorer: Scorer, examples: list[Example], preds: list[Prediction]) -> None:
        # One extra prompt per distinct (system, choices) pair, usually one for the whole set: cheap.
        priors: dict[str, list[float]] = {}
        for e, p in zip(examples, preds):
            blank = content_free(e)
            key = json.dumps([blank, e.choices])
            if key not in priors:
                priors[key] = [s for s, _ in scorer.loglik([blank], [e.choices or []])[0]]
            p.meta["prior_logprobs"] = priors[key]

    def view_answers(self, predictions: Sequence[Prediction]) -> dict[str, list[str | None]]:
        views = super().view_answers(predictions)
        if predictions and all(p.meta.get("prior_logprobs") for p in predictions):
            views["loglik_calibrated"] = [calibrated_choice(p) for p in predictions]
        return views


def content_free(example: Example) -> list[dict[str, str]]:
    """The example's prompt with its passage replaced by a content-free placeholder."""
    return [{"role": m["role"], "content": prompts.clause_type_prompt(CONTENT_FREE, example.labels or [])}
            if m["role"] == "user" else m for m in example.prompt]  # type: ignore[union-attr]


def calibrated_choice(p: Prediction) -> str | None:
    """The label whose log-likelihood rises most above its content-free prior."""
    prior = p.meta.get("prior_logprobs")
    if not p.choice_logprobs or not prior or len(prior) != len(p.choice_logprobs):
        return None
    scores = [a - b for a, b in zip(p.choice_logprobs, prior)]
    return (p.labels or p.choices or [])[max(range(len(scores)), key=scores.__getitem__)]


@register_task("clause_question")
class ClauseQuestionTask(FirmRowsTask):
    """A lawyer's Yes/No question about one clause."""

    row_task = "clause_question"
    default_choices = (prompts.YES, prompts.NO)
    max_new_tokens = 8
