"""The records of the evaluation stage: what a task asks (Example) and what a model answered (Prediction).

Every task type (span extraction, classification, multiple choice, cited QA, forgetting) reads and writes
these two, so scoring, caching, the cluster bootstrap, comparison and the report work on any task without
knowing which one it is. Both are plain pydantic records: predictions are stored, and metrics are
recomputed from them without a model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Prompt = str | list[dict[str, str]]  # plain completion text, or chat messages rendered by the tokenizer


class Example(BaseModel):
    """One thing to ask a model, with its gold answer.

    - `prompt`: a plain string is scored as a raw completion (LegalBench's protocol: no chat template);
      a list of messages is rendered with the model's chat template and a generation prompt.
    - `choices`: the strings scored by log-likelihood, appended to the prompt *verbatim* (a task that
      wants " Yes" after "A:" passes " Yes"); for chat prompts the end-of-turn token follows each.
    - `gold`: the right answer; a list means any of them is right (several gold clauses of one type).
    - `doc_id`: the document the example comes from: the unit the bootstrap resamples (examples of
      one contract are not independent). None makes the example its own cluster.
    """

    id: str
    task: str
    prompt: Prompt
    gold: str | list[str]
    choices: list[str] | None = None
    labels: list[str] | None = None  # the label each choice stands for, when it differs from the choice text
    doc_id: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class Prediction(BaseModel):
    """What one model produced for one example; enough to recompute every metric without the model."""

    example_id: str
    task: str
    doc_id: str | None = None
    gold: str | list[str]
    generated: str | None = None  # free generation, when the task generates
    answer_logprob: float | None = None  # sum of log-probabilities of the generated tokens
    answer_tokens: int | None = None
    choices: list[str] | None = None
    labels: list[str] | None = None
    choice_logprobs: list[float] | None = None  # sum log P(choice | prompt), one per choice
    choice_tokens: list[int] | None = None  # tokens per choice, for length-normalised scoring
    meta: dict[str, Any] = Field(default_factory=dict)

    def choice_by_loglik(self, normalise: bool = False) -> str | None:
        """The label whose choice has the highest log-likelihood (per token when `normalise`)."""
        if not self.choices or not self.choice_logprobs:
            return None
        scores = self.choice_logprobs
        if normalise and self.choice_tokens:
            scores = [s / max(n, 1) for s, n in zip(scores, self.choice_tokens)]
        best = max(range(len(scores)), key=scores.__getitem__)
        return (self.labels or self.choices)[best]


class Generation(BaseModel):
    """One greedy answer: its text and the log-probability the model gave it (CUAD's answer score)."""

    text: str
    logprob: float
    tokens: int
