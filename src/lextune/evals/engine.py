"""The model side of evaluation: a `Scorer` for a Hugging Face causal LM (with or without a PEFT adapter).

Where the speed comes from (measured by benchmarks/eval_throughput.py against one-sequence loops):
- the token prefix that all prompts of a call share (a few-shot preamble, a system prompt, the
  instructions) runs once, and its KV cache starts every row;
- multiple choice: one forward pass per batch of rows, each row laid out as its prompt followed by
  all its choices side by side, with a 4D attention mask so that each choice sees the prompt and its
  own earlier tokens only (positions restart after the prompt). The prompt is computed once per row,
  nothing is copied, and the vocabulary head runs only on the choice positions. On CPU (SmolLM2-135M,
  32 MMLU rows) this beat both alternatives tried: packing (prompt + choice) sequences, which
  recomputes the prompt per choice (2.5-4x slower), and running the prompts then copying each
  row's KV cache once per choice (as fast with one-token choices, about 1.4x slower with the
  option texts as choices: the copies and the padded second pass cost as much as the prompts).
  Attention implementations that cannot take a custom mask (flash attention) use the KV-cache way.
- generation: greedy decoding of up to `generate_batch_size` rows at once (within a token budget); prompts are prefilled in groups of
  similar length (little padding), their caches merged into one preallocated cache, and rows that
  finished leave the batch.
- KL: the tuned model's distributions come from that greedy loop; the base model (adapter
  disabled) runs once per batch over prompt + continuation.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import DynamicCache, PreTrainedTokenizerBase, StaticCache
from transformers.cache_utils import DynamicLayer, StaticLayer

from lextune.evals.records import Generation, Prompt
from lextune.models.chat import end_of_turn_ids, prompt_ids
from lextune.models.generation import left_pad

PADDING_SLACK = 0.15  # a batch may hold this much padding (share of real tokens) before it is split
MIN_SHARED_PREFIX = 8  # shorter common prefixes are not worth a separate forward pass
# Greedy decoding runs one token per row per step, so its matrix products are only as tall as the
# batch: on a CPU a step of 32 rows costs ~1.4x a step of 16 (measured with SmolLM2-135M on 2 cores),
# hence more rows than log-likelihood scoring uses. The token budget (rows x (longest prompt + new
# tokens)) bounds the KV cache: 16,384 tokens are ~0.75 GB for SmolLM2-135M in float32.
GENERATE_BATCH_SIZE = 32
GENERATE_TOKEN_BUDGET = 16_384


@dataclass
class _Encoded:
    ids: list[int]  # what the model reads (after any truncation)
    text: str | None  # the rendered prompt, for joint prompt+choice tokenization; None: tokenize apart
    text_ids: list[int]  # the tokens of `text` alone (no special tokens)
    chat: bool


@dataclass
class _Greedy:
    tokens: list[int] = field(default_factory=list)  # up to and including the first end-of-turn/EOS
    logprobs: list[float] = field(default_factory=list)  # of each token, under the distribution that chose it
    dists: list[torch.Tensor] = field(default_factory=list)  # those log-distributions (only when asked, for KL)


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


def _has_adapter(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is a dependency, but a stock model needs none
        return False
    return isinstance(model, PeftModel)


class ModelScorer:
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

    @staticmethod
    def _bos_prefix(tokenizer) -> list[int]:
        """[BOS] when the tokenizer puts one in front of text by default, else nothing."""
        bos = tokenizer.bos_token_id
        if bos is None:
            return []
        with_specials = tokenizer("a")["input_ids"]
        plain = tokenizer("a", add_special_tokens=False)["input_ids"]
        return [bos] if with_specials[:1] == [bos] and plain[:1] != [bos] else []

    # ---- prompts and choices -------------------------------------------------------------------

    def _encode(self, prompt: Prompt) -> _Encoded:
        tok = self.tokenizer
        if isinstance(prompt, str):
            text_ids = tok(prompt, add_special_tokens=False)["input_ids"]
            return _Encoded(self._bos + text_ids, prompt, text_ids, chat=False)
        if isinstance(prompt, list):
            ids = prompt_ids(tok, prompt)
            text = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
            text_ids = tok(text, add_special_tokens=False)["input_ids"]
            # Joint tokenization means something only if the rendered text tokenizes to what the model reads.
            joinable = ids[len(ids) - len(text_ids):] == text_ids
            return _Encoded(ids, text if joinable else None, text_ids, chat=True)
        raise TypeError(f"a prompt is a str or a list of chat messages, not {type(prompt).__name__}")

    def _encode_all(self, prompts: Sequence[Prompt]) -> list[_Encoded]:
        encoded = [self._encode(p) for p in prompts]
        for i, enc in enumerate(encoded):
            if not enc.ids:
                raise ValueError(f"prompt {i} is empty: a model needs at least one token to predict from")
            if self.max_prompt_tokens is not None and len(enc.ids) > self.max_prompt_tokens:
                enc.ids = enc.ids[-self.max_prompt_tokens:]  # keep the end: the question is there
                self.truncated += 1
        return encoded

    def _choice_ids(self, enc: _Encoded, choices: Sequence[str]) -> list[list[int]]:
        """Each choice's tokens as they follow the prompt (chat: plus the end-of-turn token)."""
        tok = self.tokenizer
        joint = (tok([enc.text + c for c in choices], add_special_tokens=False)["input_ids"]
                 if enc.text is not None and choices else [None] * len(choices))
        n = len(enc.text_ids)
        out: list[list[int]] = []
        for choice, ids in zip(choices, joint):
            if ids is not None and ids[:n] == enc.text_ids:
                cont = ids[n:]
            else:  # the choice merged with the prompt's last token: tokenize it on its own
                cont = tok(choice, add_special_tokens=False)["input_ids"]
            out.append(cont + [self._eot] if enc.chat else cont)
        return out

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

    def _score_side_by_side(self, prompts: list[list[int]], conts: list[list[list[int]]],
                            prefix: _Prefix | None) -> list[list[tuple[float, int]]]:
        """One forward pass: each row is its prompt then all its choices, kept apart by the mask.

        `prompts` are what follows the shared prefix. A choice feeds all its tokens but the last;
        the prompt's last position predicts its first token, and each fed token predicts the next.
        """
        out: list[list[tuple[float, int]]] = [[(0.0, 0)] * len(c) for c in conts]
        p = prefix.length if prefix else 0
        seqs = [q + [t for c in row for t in c[:-1]] for q, row in zip(prompts, conts)]
        width = max(len(s) for s in seqs)
        keep = max(len(s) - len(q) for s, q in zip(seqs, prompts)) + 1  # the positions that predict choices
        ids = torch.full((len(seqs), width), self._pad, dtype=torch.long)
        pos = torch.zeros((len(seqs), width), dtype=torch.long)
        allowed = torch.zeros((len(seqs), width, p + width), dtype=torch.bool)
        allowed[:, :, :p] = True  # everyone sees the shared prefix
        local = allowed[:, :, p:]  # a view: the row's own tokens
        rows, cols, targets, owner = [], [], [], []  # one entry per log-probability to add up
        scored: list[tuple[int, int, int]] = []  # (row, choice, tokens)
        for r, (q, row, seq) in enumerate(zip(prompts, conts, seqs)):
            o, n_q = width - len(seq), len(q)
            ids[r, o:] = torch.tensor(seq)
            pos[r, o:o + n_q] = p + torch.arange(n_q)
            local[r, o:o + n_q, o:o + n_q] = torch.ones(n_q, n_q, dtype=torch.bool).tril()
            local[r, torch.arange(o), torch.arange(o)] = True  # padding sees itself: no empty softmax
            start = o + n_q
            for k, c in enumerate(row):
                if not c:
                    continue
                n = len(c) - 1
                cols += [o + n_q - 1, *range(start, start + n)]
                rows += [r] * len(c)
                targets += c
                owner += [len(scored)] * len(c)
                scored.append((r, k, len(c)))
                local[r, start:start + n, o:o + n_q] = True
                local[r, start:start + n, start:start + n] = torch.ones(n, n, dtype=torch.bool).tril()
                pos[r, start:start + n] = p + n_q + torch.arange(n)
                start += n
        if not scored:
            return out
        dtype = getattr(self.model, "dtype", torch.float32)
        mask = torch.zeros((len(seqs), 1, width, p + width), dtype=dtype)
        mask.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)  # additive: eager and SDPA both take it
        dev = self.device
        kwargs = {self._cache_arg: prefix.cache(len(seqs))} if prefix else {}
        logits = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev),
                            logits_to_keep=keep, **kwargs).logits
        rows_t, cols_t = torch.tensor(rows, device=dev), torch.tensor(cols, device=dev) - (width - keep)
        wanted = logits[rows_t, cols_t].float()
        # log_softmax at the target only: logit - logsumexp
        picked = wanted.gather(-1, torch.tensor(targets, device=dev)[:, None])[:, 0] - wanted.logsumexp(-1)
        totals = torch.zeros(len(scored), dtype=torch.float64).index_add_(0, torch.tensor(owner),
                                                                         picked.double().cpu())
        for (r, k, n), total in zip(scored, totals.tolist()):
            out[r][k] = (total, n)
        return out

    def _score_with_cache_copies(self, prompts: list[list[int]],
                                 conts: list[list[list[int]]]) -> list[list[tuple[float, int]]]:
        """Prompts first (left-padded), then every choice on a copy of its row's KV cache."""
        dev = self.device
        out: list[list[tuple[float, int]]] = [[(0.0, 0)] * len(c) for c in conts]
        flat = [(r, k, c) for r, row in enumerate(conts) for k, c in enumerate(row) if c]
        if not flat:
            return out
        ids, mask = left_pad(prompts, self._pad)
        first = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev),
                           position_ids=_positions(mask).to(dev), use_cache=True, logits_to_keep=1)
        first_lp = torch.log_softmax(first.logits[:, -1].float(), dim=-1).cpu()
        totals = [first_lp[r, c[0]].item() for r, _, c in flat]
        width = max(len(c) for _, _, c in flat) - 1
        if width > 0:
            rows = torch.tensor([r for r, _, _ in flat])
            cache = _output_cache(first)
            cache.reorder_cache(rows.to(dev))  # one copy of the row's cache per choice
            cont_ids = torch.full((len(flat), width), self._pad, dtype=torch.long)
            cont_mask = torch.zeros((len(flat), width), dtype=torch.long)
            targets = torch.zeros((len(flat), width), dtype=torch.long)
            for j, (_, _, c) in enumerate(flat):
                n = len(c) - 1
                if n:
                    cont_ids[j, :n], targets[j, :n], cont_mask[j, :n] = torch.tensor(c[:-1]), torch.tensor(c[1:]), 1
            positions = mask.sum(-1)[rows][:, None] + torch.arange(width)[None, :]
            full_mask = torch.cat([mask[rows], cont_mask], 1)
            logits = self.model(input_ids=cont_ids.to(dev), attention_mask=full_mask.to(dev),
                                position_ids=positions.to(dev), **{self._cache_arg: cache}).logits.float()
            picked = logits.gather(-1, targets.to(dev)[..., None])[..., 0] - logits.logsumexp(-1)
            totals = [t + s for t, s in zip(totals, (picked.cpu() * cont_mask).sum(-1).tolist())]
        for (r, k, c), total in zip(flat, totals):
            out[r][k] = (total, len(c))
        return out

    # ---- greedy decoding -----------------------------------------------------------------------

    def _decode_batches(self, encoded: list[_Encoded], max_new_tokens: int) -> list[list[int]]:
        """Longest prompts first, up to `generate_batch_size` rows within the token budget (>= 1 row)."""
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i].ids))
        batches: list[list[int]] = []
        for i in order:
            batch = batches[-1] if batches else None
            if batch is not None and len(batch) < self.generate_batch_size and \
                    (len(batch) + 1) * (len(encoded[batch[0]].ids) + max_new_tokens) <= self.generate_token_budget:
                batch.append(i)
            else:
                batches.append([i])
        return batches

    def _prefill(self, seqs: list[list[int]], room: int, prefix: _Prefix | None):
        """Last-position logits, a KV cache with `room` free slots and the 2D mask of a batch of prompts.

        Prompts run in groups of similar length, so a batch of short and long prompts does not
        compute the short ones' padding; the groups' caches are then copied into one preallocated
        cache laid out as [shared prefix | left padding | own tokens] (a static cache: decoding
        writes in place instead of concatenating the whole cache at every step, 15% of a CPU step).
        """
        dev, p = self.device, (prefix.length if prefix else 0)
        rests = [s[p:] for s in seqs]
        lengths = [len(s) for s in rests]
        order = sorted(range(len(seqs)), key=lambda i: -lengths[i])
        groups = _length_groups(order, lengths, len(seqs)) if self._plain_cache else []
        if len(groups) <= 1:
            groups = [list(range(len(seqs)))]  # one group: keep the input order
        parts = []
        for group in groups:
            ids, mask = left_pad([rests[i] for i in group], self._pad)
            full_mask = torch.cat([mask.new_ones((len(group), p)), mask], dim=1)
            kwargs = {self._cache_arg: prefix.cache(len(group))} if prefix else {}
            out = self.model(input_ids=ids.to(dev), attention_mask=full_mask.to(dev),
                             position_ids=(p + _positions(mask)).to(dev), use_cache=True, logits_to_keep=1, **kwargs)
            parts.append((out.logits[:, -1], _output_cache(out)))
        _, mask = left_pad(rests, self._pad)
        mask = torch.cat([mask.new_ones((len(seqs), p)), mask], dim=1).to(dev)
        if not all(_is_plain(c) for _, c in parts):
            self._plain_cache = False  # sliding-window, recurrent...: pad whole batches from now on
            if len(parts) > 1:
                return self._prefill(seqs, room, None)
            return parts[0][0], parts[0][1], mask
        width = mask.shape[1]
        back = torch.tensor([i for group in groups for i in group]).argsort().to(dev)  # input row -> merged row
        logits = torch.cat([lg for lg, _ in parts])[back]
        cache = StaticCache(config=self.model.config, max_cache_len=width + room)
        if not all(type(layer) is StaticLayer for layer in cache.layers):
            cache = DynamicCache()  # the config asks for sliding windows: keep every slot, the mask does the rest

        def padded(t: torch.Tensor) -> torch.Tensor:  # [prefix | own] -> [prefix | zeros | own]
            return torch.cat([t[:, :, :p], F.pad(t[:, :, p:], (0, 0, width - t.shape[2], 0))], dim=2)

        for li in range(len(parts[0][1].layers)):
            keys = torch.cat([padded(c.layers[li].keys) for _, c in parts])[back]
            values = torch.cat([padded(c.layers[li].values) for _, c in parts])[back]
            cache.update(keys, values, li)
        return logits, cache, mask

    def _greedy(self, seqs: list[list[int]], max_new_tokens: int, prefix: _Prefix | None,
                keep_dists: bool = False) -> list[_Greedy]:
        """Greedy continuations of a batch of prompts, each stopped after its first end-of-turn/EOS."""
        dev = self.device
        logits, cache, mask = self._prefill(seqs, max_new_tokens, prefix)
        results = [_Greedy() for _ in seqs]
        rows = list(range(len(seqs)))  # input row of each batch row
        alive = [True] * len(seqs)
        next_pos = mask.sum(-1)
        for step in range(max_new_tokens):
            logits = logits.float()
            chosen = logits.argmax(-1)
            if keep_dists:
                logprobs = torch.log_softmax(logits, dim=-1)
                chosen_lp = logprobs.gather(-1, chosen[:, None])[:, 0].tolist()
            else:  # the chosen token's log-probability only, without a vocabulary-sized copy
                chosen_lp = (logits.gather(-1, chosen[:, None])[:, 0] - logits.logsumexp(-1)).tolist()
            for b, (r, token) in enumerate(zip(rows, chosen.tolist())):
                if alive[b]:
                    res = results[r]
                    res.tokens.append(token)
                    res.logprobs.append(chosen_lp[b])
                    if keep_dists:
                        res.dists.append(logprobs[b])
                    alive[b] = token not in self._stops
            if step == max_new_tokens - 1 or not any(alive):
                break
            if alive.count(False) >= max(1, len(alive) // 4):  # drop finished rows once a few have piled up
                keep = torch.tensor([b for b, a in enumerate(alive) if a], device=dev)
                cache.reorder_cache(keep)
                mask, chosen, next_pos = mask[keep], chosen[keep], next_pos[keep]
                rows = [rows[b] for b in keep.tolist()]
                alive = [True] * len(rows)
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
            out = self.model(input_ids=chosen[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                             use_cache=True, **{self._cache_arg: cache})
            cache, logits = _output_cache(out), out.logits[:, -1]
            next_pos = next_pos + 1
        return results

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
