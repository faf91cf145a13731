"""Topic mixture: k-means (numpy, cosine on unit vectors) fit on the earlier weeks' questions, each week's
share per cluster, plus a "new" bucket for questions unlike every cluster; Jensen-Shannon divergence."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Embed = Callable[[list[str]], np.ndarray]


def default_embed(texts: list[str]) -> np.ndarray:
    """The bundled MiniLM (unit-length rows)."""
    from lextune.rag.embeddings import get_embedder

    return get_embedder().encode(texts)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> np.ndarray:
    """Centroids (k, dim), unit length, by spherical k-means with k-means++ seeding (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    k = max(1, min(k, len(x)))
    centers = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.clip(1.0 - np.max(x @ np.stack(centers).T, axis=1), 0.0, None)
        total = d.sum()
        centers.append(x[rng.choice(len(x), p=d / total)] if total > 0 else x[rng.integers(len(x))])
    c = np.stack(centers)
    for _ in range(iters):
        assign = np.argmax(x @ c.T, axis=1)
        new = np.stack([x[assign == j].mean(axis=0) if np.any(assign == j) else c[j] for j in range(k)])
        new /= np.maximum(np.linalg.norm(new, axis=1, keepdims=True), 1e-12)
        if np.allclose(new, c, atol=1e-6):
            break
        c = new
    return c


def js_divergence(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon divergence in bits (0 = same mixture, 1 = disjoint)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m))


class TopicModel:
    """Clusters of the reference questions; `mixture(texts)` = share per cluster, the last entry "new"."""

    def __init__(self, reference: list[str], embed: Embed, k: int = 8, seed: int = 0, novel_quantile: float = 0.02):
        self.embed = embed
        x = _unit(embed(reference))
        self.k = max(1, min(k, len(x) // 5 or 1))
        self.centroids = kmeans(x, self.k, seed)
        sims = np.max(x @ self.centroids.T, axis=1)
        # A question less like its nearest cluster than nearly every reference question is "new".
        self.novel_below = float(np.quantile(sims, novel_quantile)) if len(sims) else 0.0

    def mixture(self, texts: list[str]) -> list[float]:
        if not texts:
            return [0.0] * (self.k + 1)
        sims = _unit(self.embed(texts)) @ self.centroids.T
        best = np.argmax(sims, axis=1)
        best[np.max(sims, axis=1) < self.novel_below] = self.k
        counts = np.bincount(best, minlength=self.k + 1)
        return (counts / counts.sum()).round(4).tolist()


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
