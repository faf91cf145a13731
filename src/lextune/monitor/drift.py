"""The drift report: per-week metrics of served traffic, the latest week against the earlier ones, alerts."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np

from lextune.core.records import utcnow
from lextune.monitor.collect import Week, collect
from lextune.monitor.thresholds import Thresholds
from lextune.monitor.topics import Embed, TopicModel, default_embed, js_divergence

MAX_QUESTIONS_PER_WEEK = 2000  # a seeded sample beyond this: enough for a mixture, bounded embedding time


def _mean(rows: list[dict], key: str) -> float | None:
    vals = [float(r[key]) for r in rows if isinstance(r.get(key), int | float) and not isinstance(r.get(key), bool)]
    return round(float(np.mean(vals)), 2) if vals else None


def _rate(rows: list[dict], key: str) -> float | None:
    vals = [bool(r[key]) for r in rows if key in r]
    return round(sum(vals) / len(vals), 4) if vals else None


def _pct(rows: list[dict], key: str, q: float) -> float | None:
    vals = [float(r[key]) for r in rows if isinstance(r.get(key), int | float) and not isinstance(r.get(key), bool)]
    return round(float(np.percentile(vals, q)), 1) if vals else None


def answer_metrics(rows: list[dict], decisions: dict[str, int]) -> dict[str, Any]:
    decided = sum(decisions.get(s, 0) for s in ("accepted", "corrected", "rejected"))
    changed = decisions.get("corrected", 0) + decisions.get("rejected", 0)
    return {"answers": len(rows), "input_chars_mean": _mean(rows, "input_chars"),
            "input_tokens_mean": _mean(rows, "input_tokens"), "output_tokens_mean": _mean(rows, "output_tokens"),
            "refusal_rate": _rate(rows, "refused"), "not_in_documents_rate": _rate(rows, "not_in_documents"),
            "latency_p50_ms": _pct(rows, "latency_ms", 50), "latency_p95_ms": _pct(rows, "latency_ms", 95),
            "reviews_decided": decided, "correction_rate": round(changed / decided, 4) if decided else None}


def _sample(texts: list[str], seed: int = 0) -> list[str]:
    if len(texts) <= MAX_QUESTIONS_PER_WEEK:
        return texts
    idx = np.random.default_rng(seed).choice(len(texts), MAX_QUESTIONS_PER_WEEK, replace=False)
    return [texts[i] for i in sorted(idx)]


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _alerts(latest: dict, ref: dict, t: Thresholds, week: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def fire(metric: str, value: float, reference: float | None, threshold: float, message: str,
             direction: str = "up") -> None:
        out.append({"metric": metric, "week": week, "direction": direction, "value": value,
                    "reference": reference, "threshold": threshold, "message": message})

    enough = latest["answers"] >= t.min_answers and ref["answers"] >= t.min_answers
    if enough:
        for metric, key, limit, unit in (("input_length", "input_chars_mean", t.input_length_ratio, "chars"),
                                         ("output_length", "output_tokens_mean", t.output_length_ratio, "tokens"),
                                         ("latency_p95", "latency_p95_ms", t.latency_p95_ratio, "ms"),
                                         ("latency_p50", "latency_p50_ms", t.latency_p50_ratio, "ms")):
            a, b = latest.get(key), ref.get(key)
            if limit is None or not (_num(a) and _num(b)) or b <= 0 or a <= 0:
                continue
            ratio = a / b
            if ratio >= limit or ratio <= 1 / limit:
                fire(metric, a, b, limit, f"{metric}: {a:g} {unit} this week vs {b:g} before ({ratio:.2f}x; "
                                          f"alert at {limit:g}x)", "up" if ratio >= limit else "down")
        for metric, key, limit in (("refusal_rate", "refusal_rate", t.refusal_rate_increase),
                                   ("not_in_documents_rate", "not_in_documents_rate",
                                    t.not_in_documents_rate_increase)):
            a, b = latest.get(key), ref.get(key)
            if limit is not None and _num(a) and _num(b) and a - b >= limit:
                fire(metric, a, b, limit, f"{metric}: {a:.1%} this week vs {b:.1%} before "
                                          f"(+{(a - b) * 100:.1f} points; alert at +{limit * 100:g})")
        a = latest.get("topic_js")
        if t.topic_js is not None and _num(a) and a >= t.topic_js:
            fire("topic_js", a, 0.0, t.topic_js, f"topic mixture moved: Jensen-Shannon {a:.3f} bits vs the earlier "
                                                 f"weeks (alert at {t.topic_js:g})")
        a, b = latest.get("novel_topic_share"), ref.get("novel_topic_share")
        if t.novel_topic_share is not None and _num(a) and a >= t.novel_topic_share:
            fire("novel_topic_share", a, b, t.novel_topic_share,
                 f"new topic: {a:.1%} of this week's questions are unlike every earlier cluster "
                 f"(alert at {t.novel_topic_share:.0%})")
    a, b = latest.get("correction_rate"), ref.get("correction_rate")
    limit = t.correction_rate_increase
    if (limit is not None and _num(a) and _num(b) and latest["reviews_decided"] >= t.min_reviews
            and ref["reviews_decided"] >= t.min_reviews and a - b >= limit):
        fire("correction_rate", a, b, limit, f"reviewers corrected or rejected {a:.1%} this week vs {b:.1%} before "
                                             f"(+{(a - b) * 100:.1f} points; alert at +{limit * 100:g})")
    return out


def drift_report(store: Any, weeks: int = 8, thresholds: Thresholds | None = None, now: datetime | None = None,
                 embed: Embed | None = None) -> dict[str, Any]:
    """Metrics of the last `weeks` ISO weeks; the latest (the week holding `now`) against the earlier ones pooled."""
    t = thresholds or Thresholds()
    now = now or utcnow()
    data, unreadable = collect(store, now, max(2, weeks))
    return build_report(data, t, now, embed or default_embed, unreadable)


def build_report(data: list[Week], t: Thresholds, now: datetime, embed: Embed, unreadable: int = 0) -> dict[str, Any]:
    latest, earlier = data[-1], data[:-1]
    notes = []
    per_week = [{"week": w.label, "start": w.start.date().isoformat(), **answer_metrics(w.answers, w.decisions),
                 "questions": len(w.questions)} for w in data]
    pooled_rows = [r for w in earlier for r in w.answers]
    pooled_decisions: dict[str, int] = {}
    for w in earlier:
        for k, v in w.decisions.items():
            pooled_decisions[k] = pooled_decisions.get(k, 0) + v
    reference = answer_metrics(pooled_rows, pooled_decisions)
    reference_questions = [q for w in earlier for q in _sample(w.questions)]
    topics: dict[str, Any] = {"clusters": 0, "reference_mixture": None}
    if len(reference_questions) >= 10:
        model = TopicModel(reference_questions, embed, k=t.clusters)
        ref_mix = model.mixture(reference_questions)
        topics = {"clusters": model.k, "reference_mixture": ref_mix}
        reference["novel_topic_share"] = ref_mix[-1]
        for w, row in zip(data, per_week, strict=True):
            if w.questions:
                mix = model.mixture(_sample(w.questions))
                row.update(topic_mixture=mix, topic_js=round(js_divergence(mix, ref_mix), 4),
                           novel_topic_share=mix[-1])
    else:
        notes.append("topic mixture: fewer than 10 questions in the earlier weeks; no clusters fitted")
    if unreadable:
        notes.append(f"{unreadable} sealed question line(s) did not open (another store's key?) and were skipped")
    if per_week[-1]["answers"] < t.min_answers or reference["answers"] < t.min_answers:
        notes.append(f"fewer than {t.min_answers} answers in the latest week or the earlier ones: "
                     "only the correction-rate alert is checked")
    alerts = _alerts(per_week[-1], reference, t, latest.label)
    return {"kind": "lextune.drift", "generated_at": now.isoformat(), "latest_week": latest.label,
            "reference_weeks": [w.label for w in earlier if w.answers or w.questions or w.decisions],
            "weeks": per_week, "reference": reference, "topics": topics, "alerts": alerts,
            "thresholds": t.model_dump(), "notes": notes}
