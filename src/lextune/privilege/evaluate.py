"""`lextune privilege eval`: the SYNTHETIC benchmark. Train on the sample's train split, set the stage-1
threshold on validation, measure recall/precision per stage on the held-out test split.

With `train` (a firm's labelled set, training.py) the model is the one `privilege run --train` would use,
measured on the set's own "test" records, or on `sample`'s test split when one is given. Redaction: on
partially privileged test documents that mark their privileged passage (`privileged_spans`; the synthetic
generator marks its legal-advice paragraph), how often the first located span is that passage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lextune.core.errors import LextuneError
from lextune.privilege.features import Lexicon
from lextune.privilege.model import PrivilegeModel
from lextune.privilege.records import PrivilegeDoc, RedactSpan
from lextune.privilege.training import load_training

TAR_RECALL = 0.75  # the recall courts have accepted in TAR protocols (e.g. Rio Tinto v. Vale, 2015)


def _pr(flag: np.ndarray, pos: np.ndarray) -> dict:
    tp = int((flag & pos).sum())
    return {"recall": round(tp / max(int(pos.sum()), 1), 4), "precision": round(tp / max(int(flag.sum()), 1), 4),
            "flagged": int(flag.sum())}


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two [start, end) spans."""
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / max(max(a[1], b[1]) - min(a[0], b[0]), 1)


def redaction_report(model: PrivilegeModel, docs: list[PrivilegeDoc], calls) -> dict | None:
    """How well the located spans match the marked ones (a match: overlap >= 0.5 of the union)."""
    marked = [(d, c) for d, c in zip(docs, calls) if d.label == "partially_privileged" and d.privileged_spans]
    if not marked:
        return None
    located = model.locate([d for d, _ in marked])  # for every marked document, whatever its call

    def hit(span: RedactSpan, d: PrivilegeDoc) -> bool:
        return any(_overlap((span.start, span.end), tuple(m)) >= 0.5 for m in d.privileged_spans)

    first = [bool(sp) and hit(sp[0], d) for (d, _), sp in zip(marked, located)]
    called = [f for f, (_, c) in zip(first, marked) if c.category == "partially_privileged"]
    spans = [s for sp in located for s in sp]
    extra = sum(not hit(s, d) for (d, _), sp in zip(marked, located) for s in sp)
    return {"documents": len(marked), "first_span_is_marked": round(float(np.mean(first)), 4),
            "first_span_is_marked_when_called_partial": round(float(np.mean(called)), 4) if called else None,
            "called_partial": len(called), "spans_per_document": round(len(spans) / len(marked), 3),
            "unmarked_spans": int(extra)}


def evaluate(sample: Path | None = None, llm=None, target_recall: float = 0.98, train: Path | None = None) -> dict:
    import time

    training = load_training(train if train is not None else sample)  # validated; refuses a set too small
    if train is not None and sample is not None:
        test, test_from = load_training(sample, check=False).splits["test"], sample
    else:
        test, test_from = training.splits["test"], training.path
    if not test:
        raise LextuneError(f"{test_from} has no test records (\"split\": \"test\"); mark some, or give --sample "
                           "FILE whose test split to measure on")
    t0 = time.perf_counter()
    model = PrivilegeModel(Lexicon.synthetic_default(), target_recall=target_recall).fit(
        training.splits["train"], training.splits["validation"])
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    calls = model.predict(test, llm.probs(test) if llm else None)
    score_s = time.perf_counter() - t1
    pos = np.array([d.label != "not_privileged" for d in test])
    s1 = np.array([c.stage1_pass for c in calls])
    final = np.array([c.category != "not_privileged" for c in calls])
    partial = np.array([d.label == "partially_privileged" for d in test])
    hard = [c for c, d in zip(calls, test) if d.kind in ("lawyer_cc_only", "lawyer_signature", "press_release",
                                                          "opposing_counsel")]
    synthetic = all(d.synthetic is True for d in test)
    return {
        "synthetic_benchmark": synthetic,
        "note": ("SYNTHETIC sample (invented documents); not evidence of recall on real productions" if synthetic
                 else "measured on the labelled test records given"),
        "training": {k: training.manifest()[k] for k in ("path", "sha256", "synthetic", "skipped_lines", "problems")},
        "test_set": str(Path(test_from).resolve()),
        "sizes": {"train": len(training.splits["train"]), "validation": len(training.splits["validation"]),
                  "test": len(test)},
        "threshold": round(model.threshold, 4), "validation": model.validation,
        "stage1_test": _pr(s1, pos),
        "stage2_test": _pr(final, pos),
        "category_accuracy": round(float(np.mean([c.category == d.label for c, d in zip(calls, test)])), 4),
        "partial_detected": round(float(np.mean([c.category == "partially_privileged"
                                                 for c, p in zip(calls, partial) if p])), 4) if partial.any() else None,
        "hard_negatives_cleared": round(float(np.mean([c.category == "not_privileged" for c in hard])), 4)
        if hard else None,
        "review_queue": int(sum(c.needs_review for c in calls)),
        "redaction": redaction_report(model, test, calls),
        "tar_reference_recall": TAR_RECALL,
        "llm": getattr(llm, "label", None),
        "train_seconds": round(train_s, 2), "test_docs_per_hour": round(len(test) / max(score_s, 1e-9) * 3600),
    }
