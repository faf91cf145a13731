"""/v1/embeddings: the bundled MiniLM, shared with dense retrieval (one copy in memory)."""

from __future__ import annotations

import numpy as np

from lextune.rag.embeddings import get_embedder


def embed_texts(texts: list[str]) -> tuple[np.ndarray, int]:
    """Unit vectors for the texts, and how many word-piece tokens they took (the usage figure)."""
    embedder = get_embedder()
    tokenizer = embedder._model.tokenizer
    tokens = sum(len(ids) for ids in tokenizer(texts, truncation=True)["input_ids"]) if texts else 0
    return embedder.encode(texts), tokens
