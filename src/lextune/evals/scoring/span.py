"""Span-extraction metrics (CUAD / SQuAD style) over stored predictions: pure, no torch.

Why not the old word-set Jaccard >= 0.5: a model that echoes the whole excerpt shares most words with
any clause in it, so echoing scored nearly as well as quoting. Here a quote is compared token by token
(SQuAD's bag-of-tokens F1, counts included) after SQuAD's normalisation, and every span metric is
reported beside trivial baselines (see lextune.evals.tasks.span) so such an artefact shows at once.

Outcomes of one row ("Not found" is an answer of its own, not a missing one):
- gold absent, answer "Not found"  -> true negative (counted in not_found_accuracy)
- gold absent, answer a quote      -> false positive (a quote given, no hit)
- gold present, answer "Not found" -> false negative (an answerable row not hit)
- gold present, answer a quote     -> scored against the BEST matching gold clause (max over golds);
  a hit for the exact scores when it matches one exactly after normalisation, and for the overlap
  scores when its best token F1 >= OVERLAP_THRESHOLD.
precision = hits / quotes given, recall = hits / answerable rows.

Ranking (CUAD's AUPR and precision at 80% recall) uses the model's confidence in each quote: the
geometric-mean token probability exp(answer_logprob / answer_tokens). The raw sequence probability
would rank every long clause below every short one, whatever the model's certainty; the per-token
mean does not depend on length. A "Not found" answer gives no quote, so like CUAD's empty answer it
never enters the ranking (its confidence that a clause exists is ~0); it can add neither a hit nor a
false positive at any threshold.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from lextune.data.prompts import NOT_FOUND
from lextune.evals.records import Prediction

OVERLAP_THRESHOLD = 0.5  # a quote is a hit when its best token F1 reaches this (CUAD's IOU_THRESH value)
RANKING_RECALL = 0.8  # CUAD's headline operating point: precision at 80% recall
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _is_punctuation(ch: str) -> bool:
    # SQuAD removes string.punctuation; contracts also use typographic quotes and dashes (“ ” ’ —), so
    # every Unicode punctuation character goes. Both sides are normalised alike, so this only stops
    # a change of quote style from counting as a different word.
    return unicodedata.category(ch).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD/CUAD normalisation: lowercase, drop punctuation, drop articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if not _is_punctuation(ch))
    return " ".join(_ARTICLES.sub(" ", text).split())


def is_not_found(text: str | None) -> bool:
    """True for an answer that says there is no such clause: blank, or starting with "Not found"."""
    return text is None or not text.strip() or normalize_answer(text).startswith(normalize_answer(NOT_FOUND))


def exact_match(pred: str, gold: str) -> float:
    """1.0 when the normalised texts are equal, else 0.0."""
    return float(normalize_answer(pred) == normalize_answer(gold))


def token_f1(pred: str, gold: str) -> float:
    """SQuAD's token F1: harmonic mean of token precision and recall, shared tokens counted with
    multiplicity. When either side normalises to nothing it is 1.0 only if both do."""
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def gold_answers(gold: str | Sequence[str]) -> list[str]:
    """The gold clauses of a row; [] when the gold says "Not found" (or lists nothing)."""
    golds = [gold] if isinstance(gold, str) else list(gold)
    return [g for g in golds if not is_not_found(g)]


def best_match(pred: str, golds: Iterable[str]) -> tuple[float, float]:
    """(best token F1, best exact match) of `pred` over the gold clauses; (0, 0) when there are none."""
    f1s = [(token_f1(pred, g), exact_match(pred, g)) for g in golds]
    if not f1s:
        return 0.0, 0.0
    return max(f for f, _ in f1s), max(e for _, e in f1s)


def quote_confidence(pred: Prediction) -> float | None:
    """Confidence that the answer is a clause: exp(logprob / tokens) of a quote; None for "Not found"
    (never ranked) and 1.0 for a quote without a log-probability (a baseline: one operating point)."""
    if is_not_found(pred.generated):
        return None
    if pred.answer_logprob is None:
        return 1.0
    return math.exp(pred.answer_logprob / max(pred.answer_tokens or 1, 1))


def _div(num: float, den: float) -> float:
    return num / den if den else 0.0


def _prf(hits: int, quotes: int, answerable: int) -> tuple[float, float, float]:
    precision, recall = _div(hits, quotes), _div(hits, answerable)
    return precision, recall, _div(2 * precision * recall, precision + recall)


def pr_curve(ranked: Sequence[tuple[float, bool]], n_positive: int) -> list[tuple[float, float]]:
    """CUAD's precision-recall points (recall, precision) from (confidence, is_hit) of every quote given.

    Starts at (0, 1) as CUAD does; then one point per distinct confidence, highest first, counting the
    quotes at or above it (ties enter together). CUAD sweeps a fixed grid 0.99..0 of thresholds; one
    threshold per distinct value is the same curve without the grid's rounding. Recall is over all
    `n_positive` answerable rows, so rows answered "Not found" cap the reachable recall.
    """
    points = [(0.0, 1.0)]
    order = sorted(ranked, key=lambda item: -item[0])
    hits = 0
    for given, (conf, hit) in enumerate(order, start=1):
        hits += hit
        if given == len(order) or order[given][0] != conf:
            points.append((_div(hits, n_positive), _div(hits, given)))
    return points


def _interpolated(points: list[tuple[float, float]]) -> list[float]:
    """CUAD's process_precisions: each precision raised to the best precision at any higher recall."""
    out = [p for _, p in points]
    for i in range(len(out) - 2, -1, -1):
        out[i] = max(out[i], out[i + 1])
    return out


def aupr(points: list[tuple[float, float]]) -> float:
    """Area under the interpolated precision-recall curve, by the trapezoid rule over recall (CUAD)."""
    prec = _interpolated(points)
    area = 0.0
    for i in range(1, len(points)):
        area += (points[i][0] - points[i - 1][0]) * (prec[i] + prec[i - 1]) / 2
    return area


def precision_at_recall(points: list[tuple[float, float]], recall: float) -> float:
    """Interpolated precision at the first point reaching `recall`; 0.0 when it is never reached (CUAD)."""
    prec = _interpolated(points)
    return next((p for (r, _), p in zip(points, prec) if r >= recall - 1e-12), 0.0)


class _Tally:
    """Counts for one group of rows (all rows, or one clause type)."""

    def __init__(self) -> None:
        self.n = self.answerable = self.quotes = 0
        self.overlap_hits = self.exact_hits = self.true_negatives = 0
        self.f1_sum = self.em_sum = 0.0

    def add(self, answerable: bool, quoted: bool, f1: float, em: float) -> None:
        self.n += 1
        self.answerable += answerable
        self.quotes += quoted
        if not answerable:
            self.true_negatives += not quoted
            return
        self.f1_sum += f1
        self.em_sum += em
        self.overlap_hits += quoted and f1 >= OVERLAP_THRESHOLD
        self.exact_hits += quoted and em == 1.0

    def metrics(self) -> dict:
        op, orr, of1 = _prf(self.overlap_hits, self.quotes, self.answerable)
        ep, er, ef1 = _prf(self.exact_hits, self.quotes, self.answerable)
        unanswerable = self.n - self.answerable
        return {
            "overlap_precision": op, "overlap_recall": orr, "overlap_f1": of1,
            "exact_precision": ep, "exact_recall": er, "exact_f1": ef1,
            "mean_token_f1": _div(self.f1_sum, self.answerable),
            "mean_exact_match": _div(self.em_sum, self.answerable),
            "not_found_accuracy": _div(self.true_negatives, unanswerable),
            "n": self.n, "answerable": self.answerable, "unanswerable": unanswerable,
            "quotes_given": self.quotes,
        }


def span_metrics(predictions: Sequence[Prediction]) -> dict:
    """Every span metric of a set of predictions (see the module docstring for the definitions).

    Keys: overlap_{precision,recall,f1} (hit = best token F1 >= `overlap_threshold`),
    exact_{precision,recall,f1}, mean_token_f1 and mean_exact_match over answerable rows (SQuAD-style
    averages; a "Not found" there scores 0), not_found_accuracy over unanswerable rows, outcome counts,
    aupr and precision_at_80_recall (CUAD), per_clause_type (from meta["clause_type"]), n.
    """
    total = _Tally()
    by_type: dict[str, _Tally] = {}
    ranked: list[tuple[float, bool]] = []
    outcomes = Counter({"true_negative": 0, "false_positive": 0, "false_negative": 0, "quoted_answerable": 0})
    confident = True
    for pred in predictions:
        golds = gold_answers(pred.gold)
        quoted = not is_not_found(pred.generated)
        f1, em = best_match(pred.generated or "", golds) if quoted else (0.0, 0.0)
        total.add(bool(golds), quoted, f1, em)
        clause_type = pred.meta.get("clause_type")
        if clause_type:
            by_type.setdefault(str(clause_type), _Tally()).add(bool(golds), quoted, f1, em)
        outcome = ("quoted_answerable" if quoted else "false_negative") if golds else (
            "false_positive" if quoted else "true_negative")
        outcomes[outcome] += 1
        if quoted:
            confident &= pred.answer_logprob is not None
            ranked.append((quote_confidence(pred) or 0.0, bool(golds) and f1 >= OVERLAP_THRESHOLD))
    points = pr_curve(ranked, total.answerable)
    return {
        **total.metrics(),
        "overlap_threshold": OVERLAP_THRESHOLD,
        "outcomes": dict(outcomes),
        "aupr": aupr(points),
        "precision_at_80_recall": precision_at_recall(points, RANKING_RECALL),
        # False when some quote had no log-probability (baselines): the curve is then one operating point.
        "ranked_by_confidence": confident and bool(ranked),
        "per_clause_type": {t: tally.metrics() for t, tally in sorted(by_type.items())},
    }
