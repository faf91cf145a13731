"""Cited question answering: `cited_qa:DATASET.jsonl` asks the dataset's cited_qa rows (quote and cite
numbered passages, or say they are silent) and nli_evidence rows (ContractNLI label plus the evidence
passages), and scores them with lextune.evals.scoring.cited (headline: citation F1).

Baselines beside the model: always_not_found (the not-found answer everywhere; NotMentioned on nli
rows), and cite_all_passages (every shown passage quoted whole and cited; on nli rows the more frequent
citing label of the set, Entailment or Contradiction, with every passage cited).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lextune.core.errors import DatasetError
from lextune.data import prompts
from lextune.evals.records import Example, Prediction
from lextune.evals.scoring.cited import cited_metrics, parse_cited_answer
from lextune.evals.tasks.base import (
    EvalTask,
    Progress,
    Scorer,
    generate_predictions,
    prediction_from,
    register_task,
)
from lextune.evals.tasks.span import dataset_rows, parse_options, prompt_messages, user_text

ROW_TASKS = ("cited_qa", "nli_evidence")
_PROMPT_ENDS = ("\n\nQuestion: ", "\n\nHypothesis: ")


def split_numbered_passages(text: str, k: int) -> list[str] | None:
    """The k passage texts of a prompt holding prompts.numbered_passages ("[1]\\n...\\n\\n[2]\\n..."),
    followed by the question or hypothesis; None when the prompt does not hold them."""
    first = text.find("[1]\n")
    if first < 0 or k < 1:
        return None
    starts = [(first, first + len("[1]\n"))]
    for n in range(2, k + 1):
        at = text.find(f"\n\n[{n}]\n", starts[-1][1])
        if at < 0:
            return None
        starts.append((at, at + len(f"\n\n[{n}]\n")))
    end = max(text.rfind(marker) for marker in _PROMPT_ENDS)
    if end < starts[-1][1]:
        return None
    bounds = [s for s, _ in starts[1:]] + [end]
    passages = [text[body:stop] for (_, body), stop in zip(starts, bounds)]
    return passages if prompts.numbered_passages(passages) in text else None


class CitedOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")  # one options dict goes to every task of a run
    max_new_tokens: int = Field(256, ge=1, description="Longest answer generated (quotes run to ~700 chars).")
    split: str = Field("test", description="Split file read when the source is a dataset directory.")
    row_tasks: list[str] = Field(
        list(ROW_TASKS), description="Dataset row tasks asked: cited_qa, nli_evidence.")

    @field_validator("row_tasks", mode="before")
    @classmethod
    def _known(cls, v):
        v = [s.strip() for s in v.split(",")] if isinstance(v, str) else v
        unknown = [t for t in v or [] if t not in ROW_TASKS]
        if unknown or not v:
            raise ValueError(f"expected some of {', '.join(ROW_TASKS)}, got {v}")
        return v


@register_task("cited_qa")
class CitedQATask(EvalTask):
    kind = "cited_qa"
    headline = "citation_f1"

    def __init__(self, source: str | None = None, **options):
        super().__init__(source, **options)
        self.opts = parse_options(self.name, CitedOptions, options)

    def load(self) -> list[Example]:
        path, rows = dataset_rows(self.name, self.source, tuple(self.opts.row_tasks), self.opts.split)
        examples = []
        for row in rows:
            shown, gold = row.meta.get("passages"), row.meta.get("gold_citations")
            if not isinstance(shown, list) or not isinstance(gold, list):
                raise DatasetError(
                    f"{path}: row {row.id}: meta lacks the 'passages' and 'gold_citations' lists a cited "
                    "row needs (rebuild the dataset with `lextune data build`)")
            passages = split_numbered_passages(user_text(row), len(shown))
            if passages is None:
                raise DatasetError(f"{path}: row {row.id}: its prompt does not show the {len(shown)} "
                                   "numbered passages ([1] ... [k]) its meta lists")
            nli = row.task == "nli_evidence"
            references = [] if nli else [q for q, _ in parse_cited_answer(row.answer).quotes]
            examples.append(Example(
                id=row.id, task=self.label, prompt=prompt_messages(row), gold=row.answer,
                doc_id=row.document_id,
                meta={"row_task": row.task, "passages": passages, "gold_citations": [int(n) for n in gold],
                      "answerable": bool(row.meta.get("answerable", bool(gold))),
                      "reference_quotes": references, "gold_label": row.label if nli else None}))
        return examples

    def predict(
        self, scorer: Scorer, examples: list[Example], progress: Progress | None = None,
    ) -> list[Prediction]:
        return generate_predictions(scorer, examples, self.opts.max_new_tokens, progress, lambda e: dict(e.meta))

    def score(self, predictions: list[Prediction]) -> dict:
        return cited_metrics(predictions)

    def baselines(self, examples: list[Example]) -> dict[str, dict]:
        labels = Counter(e.meta.get("gold_label") for e in examples)
        citing = prompts.NLI_LABELS[1] if labels[prompts.NLI_LABELS[1]] > labels[prompts.NLI_LABELS[0]] \
            else prompts.NLI_LABELS[0]
        answers: dict[str, Callable[[Example], str]] = {
            "always_not_found": _not_found_answer,
            "cite_all_passages": lambda e: _cite_all_answer(e, citing),
        }
        return {name: cited_metrics([_prediction(e, answer(e)) for e in examples])
                for name, answer in answers.items()}


def _not_found_answer(example: Example) -> str:
    if example.meta["row_task"] == "nli_evidence":
        return prompts.nli_answer(prompts.NLI_LABELS[2], [])
    return prompts.CITED_NOT_FOUND


def _cite_all_answer(example: Example, nli_label: str) -> str:
    passages = example.meta["passages"]
    if example.meta["row_task"] == "nli_evidence":
        return prompts.nli_answer(nli_label, list(range(1, len(passages) + 1)))
    return prompts.cited_quote_answer("The passages say", [(p, n) for n, p in enumerate(passages, start=1)])


def _prediction(example: Example, text: str) -> Prediction:
    return prediction_from(example, text, meta=dict(example.meta))
