"""The firm's own classification rows: clause typing and lawyers' Yes/No clause questions.

SOURCE is a dataset JSONL written by `lextune data build` (a split file such as test.jsonl), or the
dataset folder, whose `split` option (default "test") names the file. The prompt is the row's chat
messages without the final assistant answer, exactly what training showed, and the labels are the row's
choices; the document is the bootstrap cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from lextune.core.errors import DatasetError
from lextune.core.records import DatasetRow
from lextune.data import prompts
from lextune.data.dataset import read_rows
from lextune.evals.records import Example
from lextune.evals.tasks.base import register_task
from lextune.evals.tasks.classification import CONTENT_FREE, CalibratedView, ClassificationTask


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
class ClauseTypeTask(CalibratedView, FirmRowsTask):
    """Which CUAD clause type is this passage? Also scored with a content-free-calibrated view."""

    row_task = "clause_type"

    def content_free_prompt(self, example: Example) -> list[dict[str, str]]:
        return content_free(example)


def content_free(example: Example) -> list[dict[str, str]]:
    """The example's prompt with its passage replaced by a content-free placeholder."""
    return [{"role": m["role"], "content": prompts.clause_type_prompt(CONTENT_FREE, example.labels or [])}
            if m["role"] == "user" else m for m in example.prompt]  # type: ignore[union-attr]


@register_task("clause_question")
class ClauseQuestionTask(FirmRowsTask):
    """A lawyer's Yes/No question about one clause."""

    row_task = "clause_question"
    default_choices = (prompts.YES, prompts.NO)
    max_new_tokens = 8
