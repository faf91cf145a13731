"""Recall and precision of PII removal on the labelled CUAD sample shipped in `lextune.demo_data`.

Definitions (per gold entity type for recall, per predicted type for precision):
- a gold span is *removed* when at least 80% of its characters lie under redactions of any type;
- a redaction is *correct* when it overlaps a gold PII span of any type; redactions that overlap
  only "NEUTRAL" spans (public bodies, brands, places the labeller chose not to call PII) are left
  out of precision, neither right nor wrong;
- character precision: characters under redactions that lie in gold PII spans, over all redacted
  characters (the same NEUTRAL exclusion).
The sample is split by contract: "dev" (the recognizers were tuned on it), "heldout", "heldout2",
"test" and "blind" (each measured blind once, then used for development too) and "blind2" (drawn and
labelled last, measured once: the reported figures). scripts/make_pii_sample.py tells how each was drawn and labelled.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

COVER = 0.8
Span = tuple[int, int, str]


@dataclass
class SampleDoc:
    id: str
    title: str
    split: str
    text: str
    gold: list[Span]


@dataclass
class Scores:
    gold_total: Counter = field(default_factory=Counter)
    gold_found: Counter = field(default_factory=Counter)
    pred_total: Counter = field(default_factory=Counter)
    pred_correct: Counter = field(default_factory=Counter)
    chars_redacted: int = 0
    chars_correct: int = 0

    def recall(self, etype: str) -> float:
        return self.gold_found[etype] / self.gold_total[etype] if self.gold_total[etype] else float("nan")

    def precision(self, etype: str | None = None) -> float:
        tot = sum(self.pred_total.values()) if etype is None else self.pred_total[etype]
        ok = sum(self.pred_correct.values()) if etype is None else self.pred_correct[etype]
        return ok / tot if tot else float("nan")

    def char_precision(self) -> float:
        return self.chars_correct / self.chars_redacted if self.chars_redacted else float("nan")


def sample_path() -> Path:
    return Path(str(resources.files("lextune") / "demo_data" / "pii_sample.jsonl.gz"))


def load_sample(split: str | None = None) -> list[SampleDoc]:
    """The labelled sample (120 CUAD train contract excerpts); `split`: dev, heldout, heldout2, test, blind,
    blind2, or None."""
    with gzip.open(sample_path(), "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    docs = [SampleDoc(r["id"], r["title"], r["split"], r["text"],
                      [(s["start"], s["end"], s["entity_type"]) for s in r["spans"]]) for r in rows]
    return [d for d in docs if split is None or d.split == split]


def score(docs: Iterable[SampleDoc], redact: Callable[[str], list[Span]]) -> Scores:
    """Run `redact` (text -> redacted spans) on each document and count against the gold spans."""
    sc = Scores()
    for doc in docs:
        pred = redact(doc.text)
        covered = bytearray(len(doc.text))
        for s, e, _ in pred:
            covered[s:e] = b"\x01" * (e - s)
        gold_pii = bytearray(len(doc.text))
        neutral = bytearray(len(doc.text))
        for s, e, t in doc.gold:
            target = neutral if t == "NEUTRAL" else gold_pii
            target[s:e] = b"\x01" * (e - s)
            if t == "NEUTRAL":
                continue
            sc.gold_total[t] += 1
            if sum(covered[s:e]) >= COVER * (e - s):
                sc.gold_found[t] += 1
        for s, e, t in pred:
            hits_pii = any(gold_pii[s:e])
            if not hits_pii and any(neutral[s:e]):
                continue
            sc.pred_total[t] += 1
            sc.pred_correct[t] += hits_pii
            sc.chars_redacted += e - s
            sc.chars_correct += sum(gold_pii[s:e])
    return sc


def ours(anonymizer=None) -> Callable[[str], list[Span]]:
    """lextune's anonymizer as a `redact` function (spans that the policy does not keep)."""
    from lextune.vault.pii.anonymizer import Anonymizer

    anon = anonymizer or Anonymizer()
    return lambda text: [(r.start, r.end, r.entity_type) for r in anon.redactions(text) if r.replacement != r.original]


def plain_presidio(score_threshold: float = 0.0) -> Callable[[str], list[Span]]:
    """Presidio with its default recognizers (offline) as a `redact` function: every entity it reports,
    overlaps resolved by score then length, as its anonymizer would replace them."""
    from lextune.vault.pii.engine import plain_analyzer

    analyzer = plain_analyzer()

    def redact(text: str) -> list[Span]:
        results = analyzer.analyze(text, language="en", score_threshold=score_threshold)
        kept: list[Span] = []
        for r in sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
            if all(r.end <= s or r.start >= e for s, e, _ in kept):
                kept.append((r.start, r.end, r.entity_type))
        return sorted(kept)

    return redact


def table(rows: dict[str, Scores], types: list[str]) -> str:
    """A plain-text table: recall per gold type, then precision, one column per system."""
    names = list(rows)
    w = max(14, *(len(n) for n in names))
    lines = [f"{'recall':<18}" + "".join(f"{n:>{w + 2}}" for n in names) + f"{'gold spans':>12}"]
    for t in types:
        tot = next(iter(rows.values())).gold_total[t]
        if tot:
            lines.append(f"{t:<18}" + "".join(f"{rows[n].recall(t):>{w + 2}.3f}" for n in names) + f"{tot:>12}")
    lines.append(f"{'precision (spans)':<18}" + "".join(f"{rows[n].precision():>{w + 2}.3f}" for n in names))
    lines.append(f"{'precision (chars)':<18}" + "".join(f"{rows[n].char_precision():>{w + 2}.3f}" for n in names))
    for n in names:
        per = ", ".join(f"{t} {rows[n].precision(t):.2f} ({rows[n].pred_total[t]})"
                        for t in sorted(rows[n].pred_total, key=lambda t: -rows[n].pred_total[t]))
        lines.append(f"  {n} precision by predicted type (n): {per}")
    return "\n".join(lines)
