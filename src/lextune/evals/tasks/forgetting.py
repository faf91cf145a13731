"""Forgetting: how far a tuned model drifts from its base on general prompts.

Per-token KL(tuned || base) over the tuned model's own greedy continuation of each prompt, the base
being the same weights with the adapter disabled (PEFT's `disable_adapter()`), so no second model is
loaded. A small model is near chance on MMLU, so KL is the sensitive signal; MMLU accuracy on a
stratified general sample (`mmlu:` task) is reported beside it.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from lextune.core.errors import DatasetError
from lextune.evals.records import Example, Prediction
from lextune.evals.tasks.base import EvalTask, Progress, Scorer, register_task

MAX_NEW_TOKENS = 48


def default_prompts_path() -> Path:
    return Path(str(resources.files("lextune") / "demo_data" / "eval_samples" / "general" /
                    "mt_bench_first_turns.jsonl"))


def default_mmlu_dir() -> Path:
    return Path(str(resources.files("lextune") / "demo_data" / "eval_samples" / "general" / "mmlu"))


@register_task("forgetting")
class ForgettingTask(EvalTask):
    """Source: a JSONL of {"id", "prompt"[, "category"]} (default: 24 shipped MT-Bench first turns)."""

    kind = "forgetting"
    headline = "kl"
    higher_is_better = False

    def source_label(self) -> str:
        return Path(str(self.source)).stem

    def load(self) -> list[Example]:
        path = Path(self.source) if self.source else default_prompts_path()
        if not path.is_file():
            raise DatasetError(f"{path}: no such prompts file")
        out = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                prompt = rec["prompt"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise DatasetError(f"{path}:{n}: expected a JSON object with a \"prompt\" ({e})") from e
            out.append(Example(id=str(rec.get("id", n)), task="forgetting", prompt=[{"role": "user", "content": prompt}],
                               gold="", meta={"category": rec.get("category", "")}))
        return out

    def predict(self, scorer: Scorer, examples: list[Example], progress: Progress | None = None) -> list[Prediction]:
        kls = scorer.kl_from_base([e.prompt for e in examples], int(self.options.get("max_new_tokens", MAX_NEW_TOKENS)),
                                  progress=progress)
        return [Prediction(example_id=e.id, task="forgetting", doc_id=e.doc_id, gold="", meta={"kl": float(kl),
                           "category": e.meta.get("category", "")}) for e, kl in zip(examples, kls)]

    def score(self, predictions: list[Prediction]) -> dict:
        kls = np.array([p.meta["kl"] for p in predictions], dtype=float)
        by_cat: dict[str, list[float]] = {}
        for p in predictions:
            by_cat.setdefault(p.meta.get("category") or "all", []).append(p.meta["kl"])
        return {"kl": float(kls.mean()) if len(kls) else 0.0, "kl_max": float(kls.max()) if len(kls) else 0.0,
                "kl_median": float(np.median(kls)) if len(kls) else 0.0,
                "kl_by_category": {c: float(np.mean(v)) for c, v in sorted(by_cat.items())},
                "unit": "nats per token", "n": len(predictions)}

    # No trivial baseline: the stock model's own drift (0) is the reference, and the gate's bound (max_kl)
    # says how much drift is acceptable.
