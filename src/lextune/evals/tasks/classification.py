"""Two task types: classification (pick one label) and multiple choice (pick one option).

Both score each example's choices by log-likelihood (`Scorer.loglik`). Classification also asks for a
short free answer (`Scorer.generate`) and maps it to a label, because a fine-tuned model is used by
reading what it writes: the two views can disagree, and both are reported. The headline is the
log-likelihood view, which cannot fail on formatting and so measures what the model knows.

Concrete tasks (legalbench, mmlu, contractnli, clause_type, clause_question) subclass these and only
write `load()`; predictions are plain records, so `score()` runs on stored predictions without a model.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache
from typing import Any, ClassVar

from lextune.core.errors import DatasetError
from lextune.evals.metrics import match_label
from lextune.evals.records import Example, Prediction, Prompt
from lextune.evals.scoring.classification import classification_metrics, multiple_choice_metrics
from lextune.evals.tasks.base import EvalTask, Progress, Scorer


def labels_of(example: Example | Prediction) -> list[str]:
    """The label each choice stands for (the choices themselves when no separate labels are given)."""
    return list(example.labels or example.choices or [])


def check_examples(task: str, examples: Sequence[Example]) -> None:
    """Every example has choices, one label per choice, and a gold label among them."""
    for e in examples:
        labels = labels_of(e)
        if not e.choices or len(labels) != len(e.choices):
            raise DatasetError(f"{task}: example {e.id} needs choices and one label per choice")
        if not isinstance(e.gold, str) or e.gold not in labels:
            raise DatasetError(f"{task}: example {e.id}: gold {e.gold!r} is not one of its labels {labels}")


def _pick(scores: list[float], labels: list[str]) -> str:
    return labels[max(range(len(scores)), key=scores.__getitem__)]


def _label_set(predictions: Sequence[Prediction]) -> list[str]:
    """Union of the predictions' labels, in the order they first appear (the confusion matrix's order)."""
    return list(dict.fromkeys(label for p in predictions for label in labels_of(p)))


def first_line(text: str) -> str:
    """The first non-blank line: a completion prompt's model runs on into the next few-shot "Q:"."""
    return next((line for line in text.splitlines() if line.strip()), "")


@lru_cache(maxsize=1 << 16)
def read_label(generated: str, labels: tuple[str, ...]) -> str | None:
    """The label a free answer names (its first line), or None; cached since the bootstrap rescores often."""
    return match_label(first_line(generated), list(labels))


def _prediction(e: Example, scored: list[tuple[float, int]]) -> Prediction:
    if len(scored) != len(e.choices or []):
        raise ValueError(f"scorer returned {len(scored)} scores for {len(e.choices or [])} choices of {e.id}")
    return Prediction(
        example_id=e.id, task=e.task, doc_id=e.doc_id, gold=e.gold, choices=e.choices, labels=labels_of(e),
        choice_logprobs=[s for s, _ in scored], choice_tokens=[n for _, n in scored], meta=dict(e.meta),
    )


class ClassificationTask(EvalTask):
    """Pick one label: scored by log-likelihood of each label and by a short free answer.

    Options: `generate` (default True) also asks for a free answer; `max_new_tokens` its length.
    """

    kind: ClassVar[str] = "classification"
    headline: ClassVar[str] = "balanced_accuracy"
    max_new_tokens: ClassVar[int] = 16

    @property
    def generates(self) -> bool:
        return bool(self.options.get("generate", True))

    def predict(self, scorer: Scorer, examples: list[Example], progress: Progress | None = None) -> list[Prediction]:
        check_examples(self.label, examples)
        scores = scorer.loglik([e.prompt for e in examples], [e.choices or [] for e in examples], progress)
        preds = [_prediction(e, s) for e, s in zip(examples, scores)]
        if self.generates:
            tokens = int(self.options.get("max_new_tokens", self.max_new_tokens))
            for p, g in zip(preds, scorer.generate([e.prompt for e in examples], tokens, progress)):
                p.generated, p.answer_logprob, p.answer_tokens = g.text, g.logprob, g.tokens
        self.add_views(scorer, examples, preds)
        return preds

    def add_views(self, scorer: Scorer, examples: list[Example], preds: list[Prediction]) -> None:
        """Hook for extra model calls a subclass's extra views need (stored in the predictions' meta)."""

    def work_units(self, examples: list[Example]) -> int:
        return len(examples) * (2 if self.generates else 1)

    def view_answers(self, predictions: Sequence[Prediction]) -> dict[str, list[str | None]]:
        """Each view's answer per prediction; a view with no data (no generation stored) is left out."""
        views: dict[str, list[str | None]] = {"loglik": [p.choice_by_loglik() for p in predictions]}
        if any(p.generated is not None for p in predictions):
            views["generation"] = [
                read_label(p.generated, tuple(labels_of(p))) if p.generated is not None else None
                for p in predictions
            ]
        return views

    def score(self, predictions: list[Prediction]) -> dict:
        labels = _label_set(predictions)
        gold = [_gold_label(p) for p in predictions]
        out: dict[str, Any] = {}
        for view, answers in self.view_answers(predictions).items():
            out[view] = classification_metrics(gold, answers, labels)
        headline = out["loglik"]
        out.update(balanced_accuracy=headline["balanced_accuracy"], accuracy=headline["accuracy"],
                   macro_f1=headline["macro_f1"], headline_view="loglik", labels=labels, n=len(predictions))
        return out

    def baselines(self, examples: list[Example]) -> dict[str, dict]:
        """Always the eval set's most frequent gold label, and uniform guessing (expected values)."""
        if not examples:
            return {}
        gold = [_gold_label(e) for e in examples]
        labels = list(dict.fromkeys(label for e in examples for label in labels_of(e)))
        counts = Counter(gold)
        # Ties go to the label listed first, so the baseline does not depend on example order.
        majority = max(labels, key=lambda label: (counts[label], -labels.index(label)))
        base = classification_metrics(gold, [majority] * len(gold), labels)
        base.update(label=majority, counts_from="gold labels of the evaluated examples (an oracle prior)")
        # Uniform guessing over an example's k choices is right with probability 1/k; recall of a label
        # is then the mean of 1/k over its examples, and balanced accuracy the mean of those recalls.
        by_label: dict[str, list[float]] = defaultdict(list)
        for e, g in zip(examples, gold):
            by_label[g].append(1 / len(labels_of(e)))
        chance = [1 / len(labels_of(e)) for e in examples]
        uniform = {"accuracy": sum(chance) / len(chance),
                   "balanced_accuracy": sum(sum(v) / len(v) for v in by_label.values()) / len(by_label),
                   "n": len(examples)}
        return {"majority_class": base, "random_uniform": uniform}


def _gold_label(item: Example | Prediction) -> str:
    if not isinstance(item.gold, str):
        raise TypeError(f"{getattr(item, 'id', None) or item.example_id}: classification needs one gold label")
    return item.gold


class MultipleChoiceTask(EvalTask):
    """Pick one option by log-likelihood only (free text is never parsed): accuracy, raw and per token."""

    kind: ClassVar[str] = "multiple_choice"
    headline: ClassVar[str] = "accuracy"

    def predict(self, scorer: Scorer, examples: list[Example], progress: Progress | None = None) -> list[Prediction]:
        check_examples(self.label, examples)
        scores = scorer.loglik([e.prompt for e in examples], [e.choices or [] for e in examples], progress)
        return [_prediction(e, s) for e, s in zip(examples, scores)]

    def score(self, predictions: list[Prediction]) -> dict:
        gold = [_gold_label(p) for p in predictions]
        raw = multiple_choice_metrics(gold, [p.choice_by_loglik() for p in predictions])
        norm = multiple_choice_metrics(gold, [p.choice_by_loglik(normalise=True) for p in predictions])
        return {"accuracy": raw["accuracy"], "accuracy_norm": norm["accuracy"],
                "accuracy_norm_by": "log-likelihood per choice token", "n": raw["n"]}

    def baselines(self, examples: list[Example]) -> dict[str, dict]:
        if not examples:
            return {}
        chance = sum(1 / len(labels_of(e)) for e in examples) / len(examples)
        return {"random_uniform": {"accuracy": chance, "accuracy_norm": chance, "n": len(examples)}}


def stratified_sample(examples: Sequence[Example], n: int, key: Callable[[Example], Any] = lambda e: e.gold,
                      seed: int = 0) -> list[Example]:
    """`n` examples keeping the proportions of `key` (the gold label), at least one per label when n allows.

    Deterministic for a seed; the sample keeps the examples' original order. Quotas are proportional,
    rounded by largest remainder (ties to the label that sorts first).
    """
    if n >= len(examples):
        return list(examples)
    if n <= 0:
        return []
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        k = key(e)
        groups[tuple(k) if isinstance(k, list) else k].append(i)
    names = sorted(groups, key=str)
    exact = {g: n * len(groups[g]) / len(examples) for g in names}
    quota = {g: math.floor(exact[g]) for g in names}
    if n >= len(names):
        quota = {g: max(1, q) for g, q in quota.items()}
    while sum(quota.values()) > n:  # the minimum of one overshot: take from the most over-served label
        g = max((g for g in names if quota[g] > 1), key=lambda g: quota[g] - exact[g])
        quota[g] -= 1
    while sum(quota.values()) < n:
        g = max((g for g in names if quota[g] < len(groups[g])), key=lambda g: exact[g] - quota[g])
        quota[g] += 1
    rng = random.Random(seed)
    chosen = sorted(i for g in names for i in rng.sample(groups[g], quota[g]))
    return [examples[i] for i in chosen]


# Content-free input for calibration (Zhao et al. 2021, "Calibrate Before Use"): the label scores a model
# gives with no passage at all are its prior; subtracting them removes a small model's bias toward one
# label, so the model is not judged on that bias alone.
CONTENT_FREE = "N/A"


class CalibratedView:
    """Adds the "loglik_calibrated" view to a ClassificationTask: each label's log-likelihood minus the
    score it gets on the example's content-free prompt (`content_free_prompt`). Reported beside the task's
    own views, never instead of them."""

    def content_free_prompt(self, example: Example) -> Prompt | None:
        raise NotImplementedError

    def add_views(self, scorer: Scorer, examples: list[Example], preds: list[Prediction]) -> None:
        # One extra prompt per distinct (blank prompt, choices), usually one for the whole set: cheap.
        priors: dict[str, list[float]] = {}
        for e, p in zip(examples, preds):
            blank = self.content_free_prompt(e)
            if blank is None:
                continue
            key = json.dumps([blank, e.choices])
            if key not in priors:
                priors[key] = [s for s, _ in scorer.loglik([blank], [e.choices or []])[0]]
            p.meta["prior_logprobs"] = priors[key]

    def view_answers(self, predictions: Sequence[Prediction]) -> dict[str, list[str | None]]:
        views = super().view_answers(predictions)  # type: ignore[misc]
        if predictions and all(p.meta.get("prior_logprobs") for p in predictions):
            views["loglik_calibrated"] = [calibrated_choice(p) for p in predictions]
        return views


def calibrated_choice(p: Prediction) -> str | None:
    """The label whose log-likelihood rises most above its content-free prior."""
    prior = p.meta.get("prior_logprobs")
    if not p.choice_logprobs or not prior or len(prior) != len(p.choice_logprobs):
        return None
    scores = [a - b for a, b in zip(p.choice_logprobs, prior)]
    return (p.labels or p.choices or [])[max(range(len(scores)), key=scores.__getitem__)]
