"""Batch layout and KV-cache plumbing shared by choice scoring and greedy decoding (lextune.evals.engine).

Rows are grouped by length so that a batch computes little padding; left-padded rows need position
ids that start at their first real token; and the KV cache of the prefix every row shares (computed
once by ModelScorer._shared_prefix) is expanded to each batch. Caches are merged, padded and expanded only when they are whole
per-layer tensors (`_is_plain`): sliding-window or recurrent caches are left as the model made them.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

PADDING_SLACK = 0.15  # a batch may hold this much padding (share of real tokens) before it is split


@dataclass
class _Prefix:
    """The KV cache of the tokens every row of a call starts with, computed once for one row."""

    length: int
    layers: list[tuple[torch.Tensor, torch.Tensor]]  # keys, values per layer, batch size 1

    def cache(self, rows: int) -> DynamicCache:
        cache = DynamicCache()
        for li, (keys, values) in enumerate(self.layers):
            cache.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1), li)
        return cache


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token (left padding shifts them otherwise)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def _length_groups(order: list[int], lengths: list[int], max_rows: int) -> list[list[int]]:
    """Split `order` (longest first) into runs of at most `max_rows` whose padding stays under the slack."""
    groups: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        padded = (len(current) + 1) * (lengths[current[0]] if current else lengths[i])
        if current and (len(current) >= max_rows or padded > (1 + PADDING_SLACK) * (real + lengths[i])):
            groups.append(current)
            current, real = [], 0
        current.append(i)
        real += lengths[i]
    return groups + [current] if current else groups


def _cache_kwarg(model) -> str:
    """The forward argument that takes a KV cache: `cache` in recent transformers, `past_key_values` before."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _output_cache(out):
    cache = getattr(out, "cache", None)
    return out.past_key_values if cache is None else cache


def _is_plain(cache) -> bool:
    """A cache of whole per-layer key/value tensors, which can be padded, merged and expanded."""
    return isinstance(cache, DynamicCache) and all(type(layer) is DynamicLayer for layer in cache.layers)
