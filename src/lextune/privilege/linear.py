"""Softmax / logistic regression in numpy (full-batch gradient descent with Adam, L2): no scikit-learn."""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_softmax(X: np.ndarray, y: np.ndarray, classes: int, *, weights: np.ndarray | None = None,
                l2: float = 1e-3, lr: float = 0.05, epochs: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) minimising weighted cross-entropy + l2/2 |W|^2. `weights` per sample (class balance)."""
    n, d = X.shape
    W = np.zeros((d, classes), np.float32)
    b = np.zeros(classes, np.float32)
    Y = np.eye(classes, dtype=np.float32)[y]
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    w = (w / w.sum()).astype(np.float32)
    mW, vW, mb, vb = np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b)
    X64 = np.ascontiguousarray(X, dtype=np.float32)
    for t in range(1, epochs + 1):
        G = (softmax(X64 @ W + b) - Y) * w[:, None]
        gW, gb = X64.T @ G + l2 * W, G.sum(axis=0)
        mW, vW = 0.9 * mW + 0.1 * gW, 0.999 * vW + 0.001 * gW ** 2
        mb, vb = 0.9 * mb + 0.1 * gb, 0.999 * vb + 0.001 * gb ** 2
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        W -= lr * (mW / c1) / (np.sqrt(vW / c2) + 1e-8)
        b -= lr * (mb / c1) / (np.sqrt(vb / c2) + 1e-8)
    return W, b


def predict_proba(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return softmax(X.astype(np.float32) @ W + b)


def balanced_weights(y: np.ndarray, classes: int, boost: dict[int, float] | None = None) -> np.ndarray:
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    per = np.where(counts > 0, len(y) / (classes * np.maximum(counts, 1)), 0.0)
    for k, v in (boost or {}).items():
        per[k] *= v
    return per[y]


def recall_threshold(scores: np.ndarray, positive: np.ndarray, target: float) -> float:
    """The highest threshold whose recall on (scores, positive) is >= target (score >= threshold flags)."""
    pos = np.sort(scores[positive.astype(bool)])[::-1]
    if len(pos) == 0:
        return 0.5
    k = int(np.ceil(target * len(pos)))  # flag at least the top k positives
    return float(pos[k - 1]) - 1e-6
