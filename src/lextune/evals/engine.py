"""The model side of evaluation: a `Scorer` for a Hugging Face causal LM (with or without a PEFT adapter).

Where the speed comes from (measured by benchmarks/eval_throughput.py against one-sequence loops):
- the token prefix that all prompts of a call share (a few-shot preamble, a system prompt, the
  instructions) runs once, and its KV cache starts every row;
- multiple choice: one forward pass per batch of rows, each row its prompt followed by all its
  choices side by side under a 4D attention mask (lextune.evals.engine_choices says why this way);
- generation: greedy decoding of up to `generate_batch_size` rows at once (within a token budget),
  prompts prefilled in groups of similar length into one preallocated cache, finished rows leaving
  the batch (lextune.evals.engine_decoding);
- KL: the tuned model's distributions come from that greedy loop; the base model (adapter
  disabled) runs once per batch over prompt + continuation.

ModelScorer is put together from mixins, one per module, because the parts share the scorer's state
(model, tokenizer, pad token, cache argument) and update it (`truncated`, `_plain_cache`):
    engine_prompts   prompts and choices to token ids
    engine_batching  length groups, position ids, the shared-prefix KV cache
    engine_choices   multiple-choice log-likelihoods
    engine_decoding  greedy decoding
This module holds the constructor and the Scorer methods (loglik, generate, kl_from_base) that drive them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from lextune.evals.engine_batching import (
    PADDING_SLACK,
    _cache_kwarg,
    _is_plain,
    _length_groups,
    _output_cache,
    _positions,
    _Prefix,
)
from lextune.evals.engine_choices import _ChoiceScoring
from lextune.evals.engine_decoding import GENERATE_BATCH_SIZE, GENERATE_TOKEN_BUDGET, _GreedyDecoding
from lextune.evals.engine_prompts import _Encoded, _PromptEncoding
from lextune.evals.records import Generation, Prompt
from lextune.models.chat import end_of_turn_ids
from lextune.models.generation import left_pad

__all__ = ["GENERATE_BATCH_SIZE", "GENERATE_TOKEN_BUDGET", "MIN_SHARED_PREFIX", "PADDING_SLACK", "ModelScorer"]

MIN_SHARED_PREFIX = 8  # shorter common prefixes are not worth a separate forward pass


def _has_adapter(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is a dependency, but a stock model needs none
        return False
    return isinstance(model, PeftModel)


class ModelScorer(_PromptEncoding, _ChoiceScoring, _GreedyDecoding):
    """Scores prompts with a causal LM: choice log-likelihoods, greedy answers, KL from the base model.

    `key` names the model for the result cache (e.g. the version id and its base). `batch_size` is
    rows per forward pass when scoring choices; greedy decoding takes up to `generate_batch_size`
    rows at a time, fewer when rows x (longest prompt + new tokens) would pass
    `generate_token_budget`. With `max_prompt_tokens`, longer prompts lose their beginning (the
    question is at the end); `truncated` counts the prompts cut so far.
    """

    def __init__(self, model, tokenizer: PreTrainedTokenizerBase, key: str, batch_size: int = 8,
                 max_prompt_tokens: int | None = None, generate_batch_size: int = GENERATE_BATCH_SIZE,
                 generate_token_budget: int = GENERATE_TOKEN_BUDGET):
        for name, value in (("batch_size", batch_size), ("generate_batch_size", generate_batch_size),
                            ("generate_token_budget", generate_token_budget)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if max_prompt_tokens is not None and max_prompt_tokens < 1:
            raise ValueError(f"max_prompt_tokens must be >= 1, got {max_prompt_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        self.key = key
        self.batch_size = batch_size
        self.generate_batch_size = generate_batch_size
        self.generate_token_budget = generate_token_budget
        self.max_prompt_tokens = max_prompt_tokens
        self.truncated = 0
        self._stops = end_of_turn_ids(tokenizer)
        if not self._stops:
            raise ValueError("the tokenizer has neither an EOS nor an end-of-turn token")
        self._eot = self._stops[0]
        self._pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self._eot
        self._bos = self._bos_prefix(tokenizer)
        self.device = next(model.parameters()).device
        self._cache_arg = _cache_kwarg(model)
        # Custom 4D masks reach the attention as-is with SDPA and eager attention only.
        self._choices_side_by_side = getattr(model.config, "_attn_implementation", "sdpa") in ("sdpa", "eager")
        self._plain_cache = True  # off once the model's cache turns out not to be whole per-layer tensors

    # ---- the prefix every prompt shares (prompts and choices: engine_prompts) -------------------

    def _shared_prefix(self, seqs: list[list[int]]) -> _Prefix | None:
        """The KV cache of the tokens all `seqs` start with (each keeps at least its last token), if worth it."""
        if len(seqs) < 2 or not self._plain_cache:
            return None
        common = os.path.commonprefix(seqs)[: min(len(s) for s in seqs) - 1]
        if len(common) < MIN_SHARED_PREFIX:
            return None
        out = self.model(input_ids=torch.tensor([common], device=self.device), use_cache=True, logits_to_keep=1)
        cache = _output_cache(out)
        if not _is_plain(cache):
            self._plain_cache = False
            return None
        return _Prefix(len(common), [(layer.keys, layer.values) for layer in cache.layers])

    # ---- multiple choice -----------------------------------------------------------------------

    @torch.inference_mode()
    def loglik(self, prompts: Sequence[Prompt], choices: Sequence[Sequence[str]],
               progress=None) -> list[list[tuple[float, int]]]:
        """For each prompt, (sum log P(choice | prompt), token count) of each of its choices."""
        if len(prompts) != len(choices):
            raise ValueError(f"{len(prompts)} prompts but {len(choices)} choice lists")
        encoded = self._encode_all(prompts)
        conts = [self._choice_ids(e, c) for e, c in zip(encoded, choices)]
        results: list[list[tuple[float, int]]] = [[] for _ in prompts]
        prefix = self._shared_prefix([e.ids for e in encoded]) if self._choices_side_by_side else None
        p = prefix.length if prefix else 0
        # What a row costs: its own prompt tokens, plus its choices when they sit side by side.
        lengths = [len(e.ids) - p + (sum(max(len(c) - 1, 0) for c in row) if self._choices_side_by_side else 0)
                   for e, row in zip(encoded, conts)]
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
        for idx in _length_groups(order, lengths, self.batch_size):
            rests, rows = [encoded[i].ids[p:] for i in idx], [conts[i] for i in idx]
            scores = (self._score_side_by_side(rests, rows, prefix) if self._choices_side_by_side
                      else self._score_with_cache_copies(rests, rows))
            for i, s in zip(idx, scores):
                results[i] = s
            if progress:
                progress(len(idx))
        return results

    # ---- greedy decoding -----------------------------------------------------------------------

    def _greedy_all(self, encoded: list[_Encoded], max_new_tokens: int, keep_dists: bool, progress):
        """Yield (input indices, greedy results) batch by batch."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        prefix = self._shared_prefix([e.ids for e in encoded])
        for idx in self._decode_batches(encoded, max_new_tokens):
            yield idx, self._greedy([encoded[i].ids for i in idx], max_new_tokens, prefix, keep_dists)
            if progress:
                progress(len(idx))

    def _answer_length(self, tokens: list[int]) -> int:
        """Tokens before the first end-of-turn/EOS (all of them when none)."""
        return next((k for k, t in enumerate(tokens) if t in self._stops), len(tokens))

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int, progress=None) -> list[Generation]:
        """Greedy answers cut before end-of-turn/EOS; logprob sums the answer's tokens (the stop excluded).

        The text is decoded without special tokens and stripped of surrounding whitespace.
        """
        results: list[Generation | None] = [None] * len(prompts)
        for idx, greedy in self._greedy_all(self._encode_all(prompts), max_new_tokens, False, progress):
            for i, g in zip(idx, greedy):
                n = self._answer_length(g.tokens)
                text = self.tokenizer.decode(g.tokens[:n], skip_special_tokens=True).strip()
                results[i] = Generation(text=text, logprob=float(sum(g.logprobs[:n])), tokens=n)
        return results  # type: ignore[return-value]

    # ---- drift from the base model -------------------------------------------------------------

    @torch.inference_mode()
    def kl_from_base(self, prompts: Sequence[Prompt], max_new_tokens: int, progress=None) -> list[float]:
        """Mean per-token KL(tuned || base) over each prompt's greedy continuation (0 for a stock model).

        The positions are those that chose the continuation's tokens, its end-of-turn token included
        (so an immediate stop still counts one position). The tuned distributions are the ones the
        greedy loop used; the base ones come from one forward pass with the adapter disabled.
        """
        if not _has_adapter(self.model):
            if progress and prompts:
                progress(len(prompts))
            return [0.0] * len(prompts)
        encoded = self._encode_all(prompts)
        results = [0.0] * len(prompts)
        dev = self.device
        for idx, greedy in self._greedy_all(encoded, max_new_tokens, True, progress):
            # The base reads prompt + continuation minus its last token: its last n positions predict
            # the n continuation tokens, and left padding lines them up in the same columns.
            ids, mask = left_pad([encoded[i].ids + g.tokens[:-1] for i, g in zip(idx, greedy)], self._pad)
            keep = max(len(g.tokens) for g in greedy)
            with self.model.disable_adapter():
                base = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev),
                                  position_ids=_positions(mask).to(dev), logits_to_keep=keep).logits
            base_lp = torch.log_softmax(base.float(), dim=-1)
            for row, (i, g) in enumerate(zip(idx, greedy)):
                tuned = torch.stack(g.dists)
                kl = (tuned.exp() * (tuned - base_lp[row, keep - len(g.tokens):])).sum(-1)
                results[i] = float(kl.mean())
        return results
