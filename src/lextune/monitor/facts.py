"""The facts each served answer records for monitoring: sizes, latency, refusal. No client text."""

from __future__ import annotations

import time
from typing import Any

# Grounded refusals that mean "the documents do not say": nothing found, nothing confident, or the model's own
# "not found". (`uncited` and `unsupported` are refusals too, but of an answer the model did give.)
NOT_IN_DOCUMENTS_REASONS = frozenset({"no_passages", "low_confidence", "model_not_found"})


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a time.perf_counter() value), to 0.1 ms."""
    return round((time.perf_counter() - started) * 1000.0, 1)


def answer_facts(started: float, question: str, text: str, usage: dict[str, int],
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Numbers and flags for one answer: what the audit row of `serve.answer` carries for drift monitoring."""
    from lextune.rag.verify import says_not_found

    extra = extra or {}
    grounded = "refused" in extra
    refused = bool(extra.get("refused"))
    reason = extra.get("refusal_reason")
    not_found = (refused and reason in NOT_IN_DOCUMENTS_REASONS) or (not grounded and says_not_found(text or ""))
    return {"latency_ms": elapsed_ms(started), "input_tokens": int(usage.get("prompt_tokens", 0)),
            "output_tokens": int(usage.get("completion_tokens", 0)), "input_chars": len(question or ""),
            "output_chars": len(text or ""), "grounded": grounded, "refused": refused or not_found,
            "refusal_reason": reason if refused else ("model_not_found" if not_found else None),
            "not_in_documents": bool(not_found)}
