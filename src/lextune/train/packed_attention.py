"""Attention for packed training rows: each example attends only to itself, at the cost of itself.

A packed row holds several examples back to back. Transformers handles such rows with SDPA by
building a block-diagonal (L x L) mask from restarting position ids, but a CPU kernel given a
mask computes every block, masked or not: four 300-token examples packed cost the attention of
one 1,200-token sequence, 4x their own. Here the row's example boundaries (`cu_seq_lens_q`, the
variable-length convention of flash attention) reach the attention through the model's forward
kwargs, and each example runs causal SDPA on its own slice: the cost of the examples alone, and
exactly their outputs (tests/train/test_packing.py checks per-example losses).

Only for models whose attention is plain causal softmax (no sliding window, no logit soft-cap);
the others keep SDPA with the block-diagonal mask transformers builds, which is also exact.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

NAME = "lextune_packed"
_registered = False


def _packed_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """query [1, H, L, D], key/value [1, Hkv, L, D] -> output [1, L, H, D], no weights."""
    bounds = kwargs.get("cu_seq_lens_q")
    if bounds is None or attention_mask is not None or query.shape[0] != 1:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    p = dropout if module.training else 0.0
    edges = bounds.tolist()
    gqa = query.shape[1] != key.shape[1]
    parts = [F.scaled_dot_product_attention(query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], dropout_p=p,
                                            is_causal=True, scale=scaling, enable_gqa=gqa)
             for s, e in itertools.pairwise(edges)]
    return torch.cat(parts, dim=2).transpose(1, 2).contiguous(), None


def _no_mask(*args, **kwargs):
    return None  # the example boundaries travel as cu_seq_lens_q instead


def register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, _packed_sdpa)
    AttentionMaskInterface.register(NAME, _no_mask)
    _registered = True


def supports_packed_attention(model) -> bool:
    """True when every layer's attention is plain causal softmax over the whole sequence."""
    config = model.config
    if getattr(config, "_attn_implementation", "sdpa") not in ("sdpa", "eager", NAME):
        return False
    if getattr(config, "attn_logit_softcapping", None) or getattr(config, "sliding_window", None):
        return False
    layer_types = getattr(config, "layer_types", None) or []
    return all(t == "full_attention" for t in layer_types)


def use_packed_attention(model) -> str | None:
    """Switch the model to the per-example attention; returns the previous implementation (None: left as is)."""
    if not supports_packed_attention(model):
        return None
    register()
    previous = model.config._attn_implementation
    model.set_attn_implementation(NAME)
    return previous
