"""Run a model over dataset rows: generation for every task, label log-likelihood for typing."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from lextune.core.records import DatasetRow
from lextune.data import prompts
from lextune.evals.metrics import classification_scores, match_label, quote_scores
from lextune.models.generation import choice_logprobs, generate

# Content-free input for calibration (Zhao et al. 2021, "Calibrate Before Use"): a small model's
# label scores carry a prior (first-listed or shortest label); subtracting the scores it gives
# with no passage at all removes that prior, so the stock model is not judged on its bias alone.
CONTENT_FREE = "N/A"
MAX_NEW_TOKENS = {"clause_type": 16, "clause_quote": 128}


class Prediction(BaseModel):
    """One row's gold answer and what the model said; kept so reports can pair stock vs tuned."""

    row_id: str
    task: str
    gold: str
    generated: str
    choices: list[str] | None = None
    loglik_scores: list[float] | None = None  # log P(choice | prompt), one per choice
    prior_scores: list[float] | None = None  # log P(choice | content-free prompt)

    def loglik_choice(self, calibrated: bool = False) -> str | None:
        if not self.choices or not self.loglik_scores:
            return None
        scores = self.loglik_scores
        if calibrated and self.prior_scores:
            scores = [a - b for a, b in zip(scores, self.prior_scores)]
        return self.choices[max(range(len(scores)), key=scores.__getitem__)]


def prompt_of(row: DatasetRow) -> list[dict[str, str]]:
    return row.messages[:-1] if row.messages and row.messages[-1]["role"] == "assistant" else row.messages


def predict(model, tokenizer, rows: list[DatasetRow], progress: Callable[[int], None] | None = None,
            batch_size: int = 8) -> list[Prediction]:
    """Predictions for every row, in the rows' order (generation is batched per task)."""
    preds: dict[str, Prediction] = {}
    for task in ("clause_type", "clause_quote"):
        task_rows = [r for r in rows if r.task == task]
        if not task_rows:
            continue
        texts = generate(model, tokenizer, [prompt_of(r) for r in task_rows],
                         max_new_tokens=MAX_NEW_TOKENS[task], batch_size=batch_size, progress=progress)
        priors: dict[tuple[str, ...], list[float]] = {}
        for r, text in zip(task_rows, texts):
            pred = Prediction(row_id=r.id, task=task, gold=r.answer, generated=text)
            if task == "clause_type" and r.choices:
                key = tuple(r.choices)
                if key not in priors:
                    priors[key] = choice_logprobs(model, tokenizer, _content_free(r), r.choices)
                pred.choices = r.choices
                pred.loglik_scores = choice_logprobs(model, tokenizer, prompt_of(r), r.choices)
                pred.prior_scores = priors[key]
                if progress:
                    progress(1)
            preds[r.id] = pred
    return [preds[r.id] for r in rows if r.id in preds]


def _content_free(row: DatasetRow) -> list[dict[str, str]]:
    """The row's prompt with the passage replaced by a content-free placeholder."""
    return [{"role": m["role"], "content": prompts.clause_type_prompt(CONTENT_FREE, row.choices)}
            if m["role"] == "user" else m for m in prompt_of(row)]


def work_units(rows: list[DatasetRow]) -> int:
    """Progress ticks predict() will report: one per generation, one more per typing row."""
    return len(rows) + sum(1 for r in rows if r.task == "clause_type" and r.choices)


# Each scored view: the task whose rows it reads. Clause typing is scored three ways.
VIEWS = {
    "clause_type.generation": "clause_type",
    "clause_type.loglik": "clause_type",
    "clause_type.loglik_calibrated": "clause_type",
    "clause_quote": "clause_quote",
}


def view_answers(view: str, preds: list[Prediction], labels: list[str]) -> tuple[list[str], list]:
    """(gold answers, the model's answers) of one view, over the predictions of its task."""
    rows = [p for p in preds if p.task == VIEWS[view]]
    if view == "clause_type.generation":
        guess = [match_label(p.generated, labels) for p in rows]
    elif view.startswith("clause_type.loglik"):
        guess = [p.loglik_choice(calibrated=view.endswith("calibrated")) for p in rows]
    else:
        guess = [p.generated for p in rows]
    return [p.gold for p in rows], guess


def view_metrics(view: str, gold: list[str], guess: list, labels: list[str]) -> dict:
    if VIEWS[view] == "clause_quote":
        return quote_scores(gold, guess)
    return classification_scores(gold, guess, labels)


def score(preds: list[Prediction], labels: list[str]) -> dict[str, dict]:
    """Metrics per view; views with no rows are left out."""
    out: dict[str, dict] = {}
    for view in VIEWS:
        gold, guess = view_answers(view, preds, labels)
        if gold:
            out[view] = view_metrics(view, gold, guess, labels)
    return out
