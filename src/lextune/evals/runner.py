"""Run a model over dataset rows: generation for every task, label log-likelihood for typing."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from lextune.core.records import DatasetRow
from lextune.evals.metrics import classification_scores, match_label, quote_scores
from lextune.models.generation import choice_logprobs, generate

TASKS = ("clause_type.generation", "clause_type.loglik", "clause_quote")
MAX_NEW_TOKENS = {"clause_type": 16, "clause_quote": 128}


class Prediction(BaseModel):
    """One row's gold answer and what the model said; kept so reports can pair stock vs tuned."""

    row_id: str
    task: str
    gold: str
    generated: str
    loglik_choice: str | None = None


def prompt_of(row: DatasetRow) -> list[dict[str, str]]:
    return row.messages[:-1] if row.messages and row.messages[-1]["role"] == "assistant" else row.messages


def predict(model, tokenizer, rows: list[DatasetRow], progress: Callable[[int], None] | None = None,
            batch_size: int = 8) -> list[Prediction]:
    """Predictions for every row, in the rows' order."""
    preds: list[Prediction] = []
    for task in ("clause_type", "clause_quote"):
        task_rows = [r for r in rows if r.task == task]
        if not task_rows:
            continue
        texts = generate(model, tokenizer, [prompt_of(r) for r in task_rows],
                         max_new_tokens=MAX_NEW_TOKENS[task], batch_size=batch_size, progress=progress)
        for r, text in zip(task_rows, texts):
            choice = None
            if task == "clause_type" and r.choices:
                scores = choice_logprobs(model, tokenizer, prompt_of(r), r.choices)
                choice = r.choices[max(range(len(scores)), key=scores.__getitem__)]
                if progress:
                    progress(1)
            preds.append(Prediction(row_id=r.id, task=task, gold=r.answer, generated=text,
                                    loglik_choice=choice))
    return preds


def work_units(rows: list[DatasetRow]) -> int:
    """Progress ticks predict() will report: one per generation, one more per typing row."""
    return len(rows) + sum(1 for r in rows if r.task == "clause_type" and r.choices)


def score(preds: list[Prediction], labels: list[str]) -> dict[str, dict]:
    """Metrics per task view; views with no rows are left out."""
    out: dict[str, dict] = {}
    typing = [p for p in preds if p.task == "clause_type"]
    if typing:
        gold = [p.gold for p in typing]
        out["clause_type.generation"] = classification_scores(
            gold, [match_label(p.generated, labels) for p in typing], labels)
        out["clause_type.loglik"] = classification_scores(gold, [p.loglik_choice for p in typing], labels)
    quoting = [p for p in preds if p.task == "clause_quote"]
    if quoting:
        out["clause_quote"] = quote_scores([p.gold for p in quoting], [p.generated for p in quoting])
    return out
