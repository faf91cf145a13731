"""One interface for every evaluation task: load examples, ask the model, score the predictions.

A task type subclasses `EvalTask` and registers itself with `@register_task("name")`; the module is
imported by `lextune.evals.tasks` on first use, so adding a task touches no other task. A task is
named on the command line as `name` or `name:SOURCE` (`legalbench:path/to/hearsay`, `mmlu:DIR`,
`contractnli:FILE`, `cuad:FILE`); SOURCE is handed to the task's constructor.

The model side is a `Scorer` (lextune.evals.engine.ModelScorer for Hugging Face models): tasks never
touch torch, so `score()` is pure and runs on stored predictions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

from lextune.evals.records import Example, Generation, Prediction, Prompt

Progress = Callable[[int], None]


class Scorer(Protocol):
    """What a task may ask of a model. `key` names the model (version id and base) for the result cache."""

    key: str

    def loglik(self, prompts: Sequence[Prompt], choices: Sequence[Sequence[str]],
               progress: Progress | None = None) -> list[list[tuple[float, int]]]:
        """For each prompt, (sum log P(choice | prompt), token count) of each of its choices."""

    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int,
                 progress: Progress | None = None) -> list[Generation]:
        """Greedy answers, cut at end-of-turn / EOS, with their log-probability."""

    def kl_from_base(self, prompts: Sequence[Prompt], max_new_tokens: int,
                     progress: Progress | None = None) -> list[float]:
        """Mean per-token KL(tuned || base) over each prompt's greedy continuation (0 for a stock model)."""


class EvalTask(ABC):
    """A task: `load()` its examples, `predict()` with a scorer, `score()` the predictions.

    `kind` is the task type ("span", "classification", "multiple_choice", "cited_qa", "forgetting");
    `headline` the metric that decides (it must be a key of `score()`'s result); `higher_is_better`
    says which way is better (False for KL).
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    headline: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True

    def __init__(self, source: str | None = None, **options):
        self.source = source
        self.options = options

    @property
    def label(self) -> str:
        """The task's name in reports: "legalbench:hearsay", "clause_quote"."""
        return self.name if not self.source else f"{self.name}:{self.source_label()}"

    def source_label(self) -> str:
        from pathlib import Path

        return Path(str(self.source)).name or str(self.source)

    @abstractmethod
    def load(self) -> list[Example]:
        """The task's examples (precise errors naming the file and line on bad input)."""

    @abstractmethod
    def predict(self, scorer: Scorer, examples: list[Example], progress: Progress | None = None) -> list[Prediction]:
        """One prediction per example, in order."""

    @abstractmethod
    def score(self, predictions: list[Prediction]) -> dict:
        """Metrics (floats and nested dicts) from predictions alone; includes `headline`."""

    def baselines(self, examples: list[Example]) -> dict[str, dict]:
        """Metrics of trivial predictors on the same examples (e.g. "always Not found"), by name."""
        return {}

    def work_units(self, examples: list[Example]) -> int:
        """Progress ticks predict() reports."""
        return len(examples)


TASKS: dict[str, type[EvalTask]] = {}


def register_task(name: str):
    def deco(cls: type[EvalTask]) -> type[EvalTask]:
        if name in TASKS and TASKS[name] is not cls:
            raise ValueError(f"task {name!r} registered twice")
        cls.name = name
        TASKS[name] = cls
        return cls

    return deco


def prediction_from(example: Example, text: str, logprob: float | None = None, tokens: int | None = None,
                    meta: dict | None = None) -> Prediction:
    """A generated answer as a Prediction carrying the example's ids and gold."""
    return Prediction(example_id=example.id, task=example.task, doc_id=example.doc_id, gold=example.gold,
                      generated=text, answer_logprob=logprob, answer_tokens=tokens, meta=meta or {})


def generate_predictions(scorer: Scorer, examples: list[Example], max_new_tokens: int,
                         progress: Progress | None = None,
                         meta: Callable[[Example], dict] = lambda e: {}) -> list[Prediction]:
    """Greedy answers for every example (one batched call), with `meta(example)` kept on each prediction."""
    gens = scorer.generate([e.prompt for e in examples], max_new_tokens, progress)
    return [prediction_from(e, g.text, g.logprob, g.tokens, meta(e)) for e, g in zip(examples, gens, strict=True)]
