"""Split by document: a contract's rows all land in one split, stable as the vault grows."""

from __future__ import annotations

import hashlib
from typing import Literal

Split = Literal["train", "dev", "test"]


def split_of(document_id: str, seed: int = 0, dev: float = 0.1, test: float = 0.2) -> Split:
    """Assign a document to a split from a hash of its id.

    Hashing (rather than shuffling a list) keeps every existing document in its split when new
    documents are added, so a rebuilt dataset never moves a test contract into training.
    """
    if not (0 <= dev and 0 <= test and dev + test < 1):
        raise ValueError(f"dev ({dev}) and test ({test}) fractions must be >= 0 and sum to < 1")
    digest = hashlib.sha256(f"{seed}:{document_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test:
        return "test"
    if u < test + dev:
        return "dev"
    return "train"
