"""Free-form answers scored against a reference: the instruction, statute and replay rows of a firm dataset.

There is no single right wording, so the scores are overlap measures, reported with what copying the
prompt would score: token F1 (SQuAD-style, after normalisation) and ROUGE-L F1 against the reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lextune.evals.records import Example, Prediction
from lextune.evals.scoring.span import normalize_answer
from lextune.evals.tasks.base import EvalTask, Progress, Scorer, generate_predictions, register_task

MAX_NEW_TOKENS = 160


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def token_f1(pred: str, ref: str) -> float:
    p, r = _tokens(pred), _tokens(ref)
    if not p or not r:
        return float(p == r)
    common: dict[str, int] = {}
    for t in p:
        common[t] = common.get(t, 0) + 1
    same = 0
    for t in r:
        if common.get(t, 0) > 0:
            same += 1
            common[t] -= 1
    if same == 0:
        return 0.0
    prec, rec = same / len(p), same / len(r)
    return 2 * prec * rec / (prec + rec)


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F1: longest common subsequence of normalised tokens."""
    p, r = _tokens(pred), _tokens(ref)
    if not p or not r:
        return float(p == r)
    prev = [0] * (len(r) + 1)
    for tp in p:
        cur = [0]
        for j, tr in enumerate(r, 1):
            cur.append(prev[j - 1] + 1 if tp == tr else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    prec, rec = lcs / len(p), lcs / len(r)
    return 2 * prec * rec / (prec + rec)


def overlap_metrics(pairs: list[tuple[str, str]]) -> dict:
    f1 = [token_f1(p, r) for p, r in pairs]
    rl = [rouge_l(p, r) for p, r in pairs]
    return {"token_f1": float(np.mean(f1)) if f1 else 0.0, "rouge_l": float(np.mean(rl)) if rl else 0.0,
            "n": len(pairs)}


@register_task("reference")
class ReferenceTask(EvalTask):
    """Source: a dataset JSONL from `lextune data build`; option `tasks`: the row tasks to read (default:
    every row task that no other evaluation task scores)."""

    kind = "reference"
    headline = "rouge_l"

    def load(self) -> list[Example]:
        from lextune.data.dataset import read_rows
        from lextune.evals.dataset_tasks import reference_row_tasks

        wanted = set(self.options.get("tasks") or reference_row_tasks())
        out = []
        for r in read_rows(Path(str(self.source))):
            if r.task not in wanted:
                continue
            prompt = r.messages[:-1] if r.messages and r.messages[-1]["role"] == "assistant" else r.messages
            user = next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "")
            out.append(Example(id=r.id, task=r.task, prompt=prompt, gold=r.answer, doc_id=r.document_id,
                               meta={"row_task": r.task, "input": user}))
        return out

    def predict(self, scorer: Scorer, examples: list[Example], progress: Progress | None = None) -> list[Prediction]:
        return generate_predictions(scorer, examples, int(self.options.get("max_new_tokens", MAX_NEW_TOKENS)),
                                    progress, lambda e: {"row_task": e.meta["row_task"]})

    def score(self, predictions: list[Prediction]) -> dict:
        out = overlap_metrics([(p.generated or "", str(p.gold)) for p in predictions])
        by_task: dict[str, list[tuple[str, str]]] = {}
        for p in predictions:
            by_task.setdefault(p.meta.get("row_task", p.task), []).append((p.generated or "", str(p.gold)))
        out["per_task"] = {t: overlap_metrics(v) for t, v in sorted(by_task.items())}
        return out

    def baselines(self, examples: list[Example]) -> dict[str, dict]:
        # Copying the user's message (the passage and instruction) is what a model that learned nothing
        # but echoing would score.
        return {"echo_prompt": overlap_metrics([(e.meta.get("input", ""), str(e.gold)) for e in examples])}
