"""Which model outputs a scope sends to review: a sampled share of everything, and all low-confidence ones.

Sampling is decided from a hash of the item's key (request id and position), not a random draw, so the same
request is always sampled or not: a retried request does not enqueue twice by luck, and tests are exact.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ServedTask = Literal["cited_answer", "clause_extraction", "contract_analysis"]
SERVED_TASKS: tuple[str, ...] = ("cited_answer", "clause_extraction", "contract_analysis")


class ReviewPolicy(BaseModel):
    """What one scope's served outputs send to the review queue (`scopes.<name>.review` in the serve config)."""

    model_config = ConfigDict(extra="forbid")

    sample_rate: float = Field(0.02, ge=0, le=1, description="Share of outputs queued whatever their "
                               "confidence (a steady sample keeps the correction rate honest).")
    below_confidence: float | None = Field(0.5, ge=0, le=1, description="Outputs whose confidence is below "
                                           "this are always queued; null turns that off.")
    tasks: list[ServedTask] = Field(default_factory=lambda: list(SERVED_TASKS),
                                    description="Which producers queue (cited_answer, clause_extraction, "
                                    "contract_analysis); [] turns review off for the scope.")
    matter: str | None = Field(None, description="Matter name put on queued items (default: the scope's name).")

    def why(self, task: str, confidence: float | None, key: str) -> str | None:
        """'low_confidence', 'sampled', or None when the output stays out of the queue."""
        if task not in self.tasks:
            return None
        if confidence is not None and self.below_confidence is not None and confidence < self.below_confidence:
            return "low_confidence"
        if self.sample_rate > 0 and sampled(key, self.sample_rate):
            return "sampled"
        return None


def sampled(key: str, rate: float) -> bool:
    """Whether `key` falls in the first `rate` of a uniform hash: stable per key, share `rate` over keys."""
    if rate >= 1:
        return True
    draw = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return draw < rate
