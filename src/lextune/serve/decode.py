"""One decoding round for a batch of requests: per-row sampling, stops, streaming, early exit.

`model.generate` applies one set of sampling settings and one stop rule to a whole batch; a
service batches requests from different clients, each with its own temperature, top_p,
max_tokens, stop strings, adapter and the right to hang up. This loop keeps those per row, and
drops finished rows from the key/value cache so a long answer does not make short ones wait
on compute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from lextune.models.generation import left_pad

# Text held back while it could still become a stop string or a multi-byte character.
_REPLACEMENT = "\ufffd"


@dataclass
class Row:
    """One request inside a decoding round."""

    prompt: list[int]  # token ids (a remote engine may carry its request here instead)
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    adapter: str | None = None  # PEFT adapter name; None = the base model
    seed: int | None = None
    on_text: Callable[[str], None] | None = None  # streamed text deltas
    cancelled: Callable[[], bool] = lambda: False
    # Filled by the round:
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    emitted: int = 0  # characters of `text` already streamed
    finish_reason: str | None = None
    reported_usage: tuple[int, int] | None = None  # (prompt, completion) tokens counted by a remote engine

    def usage(self) -> dict[str, int]:
        prompt, completion = self.reported_usage or (len(self.prompt), len(self.tokens))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _pick(logits: torch.Tensor, row: Row, generator: torch.Generator | None) -> int:
    if row.temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / row.temperature, dim=-1)
    if row.top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < row.top_p  # the smallest set reaching top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def _cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    hits = [text.find(s) for s in stops if s and s in text]
    return (text[: min(hits)], True) if hits else (text, False)


def _safe_prefix(text: str, stops: list[str]) -> int:
    """How much of `text` can be streamed now: not a partial stop string or a split character."""
    end = len(text)
    while end and text[end - 1] == _REPLACEMENT:
        end -= 1
    for s in stops:
        for n in range(min(len(s) - 1, end), 0, -1):
            if text[:end].endswith(s[:n]):
                end -= n
                break
    return end


def _advance(row: Row, token: int, stop_ids: set[int], decode: Callable[[list[int]], str]) -> None:
    """Append one token to a row and decide whether it is finished."""
    if token in stop_ids:
        row.finish_reason = "stop"
        return
    row.tokens.append(token)
    text, stopped = _cut_at_stop(decode(row.tokens), row.stop)
    row.text = text
    if stopped:
        row.finish_reason = "stop"
    elif len(row.tokens) >= row.max_new_tokens:
        row.finish_reason = "length"
    elif row.cancelled():
        row.finish_reason = "cancelled"


def _stream(row: Row) -> None:
    if row.on_text is None:
        return
    upto = len(row.text) if row.finish_reason else _safe_prefix(row.text, row.stop)
    if upto > row.emitted:
        row.on_text(row.text[row.emitted:upto])
        row.emitted = upto


class LiveBatch:
    """Rows decoding together; new rows join between steps (continuous batching).

    A row joining is prefilled on its own, then its key/value cache is left-padded (or the batch's
    is) to a common length and concatenated on the batch dimension, with the attention mask padded
    alike: positions are per row, so the padding changes nothing a row attends to. A finished row
    leaves the batch and the cache at once.

    With `multi_adapter`, rows may name different LoRA adapters of one PEFT model: PEFT routes each
    row through its own adapter inside one forward pass (mixed-adapter batch).
    """

    def __init__(self, stop_ids: list[int], pad_id: int, decode: Callable[[list[int]], str]):
        self.stops = set(stop_ids)
        self.pad_id = pad_id
        self.decode = decode
        self.rows: list[Row] = []
        self._generators: list[torch.Generator | None] = []
        self._cache = None
        self._mask: torch.Tensor | None = None
        self._next_pos: torch.Tensor | None = None
        self._logits: torch.Tensor | None = None  # each row's next-token logits

    def __len__(self) -> int:
        return len(self.rows)

    @staticmethod
    def can_merge(model) -> bool:
        """Sliding-window caches drop old positions per layer; rows can join only full caches."""
        window = getattr(getattr(model, "config", None), "sliding_window", None)
        return not window

    def _forward(self, model, rows, ids, mask, positions, cache, multi_adapter):
        extra = {"adapter_names": [r.adapter or "__base__" for r in rows]} if multi_adapter else {}
        return model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                     use_cache=True, logits_to_keep=1, **extra)

    @torch.inference_mode()
    def add(self, model, rows: list[Row], multi_adapter: bool = False) -> None:
        device = next(model.parameters()).device
        ids, mask = left_pad([r.prompt for r in rows], self.pad_id)
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self._forward(model, rows, ids, mask, positions, None, multi_adapter)
        logits, cache, next_pos = out.logits[:, -1].float().cpu(), out.past_key_values, positions[:, -1:] + 1
        gens = [torch.Generator().manual_seed(r.seed) if r.temperature > 0 and r.seed is not None else None
                for r in rows]
        if self._cache is None:
            self._cache, self._mask, self._next_pos, self._logits = cache, mask, next_pos, logits
        else:
            width = max(self._mask.shape[1], mask.shape[1])
            for old, new in zip(self._cache.layers, cache.layers):
                old.keys = torch.cat([_pad_left(old.keys, width, 2), _pad_left(new.keys, width, 2)])
                old.values = torch.cat([_pad_left(old.values, width, 2), _pad_left(new.values, width, 2)])
            self._mask = torch.cat([_pad_left(self._mask, width, 1), _pad_left(mask, width, 1)])
            self._next_pos = torch.cat([self._next_pos, next_pos])
            self._logits = torch.cat([self._logits, logits])
        self.rows += rows
        self._generators += gens

    @torch.inference_mode()
    def step(self, model, multi_adapter: bool = False) -> list[Row]:
        """Pick every row's next token, retire finished rows, run one forward pass; the rows that finished."""
        for slot, row in enumerate(self.rows):
            if row.cancelled():  # the client hung up: its slot is freed at once
                row.finish_reason = "cancelled"
                continue
            _advance(row, _pick(self._logits[slot], row, self._generators[slot]), self.stops, self.decode)
            _stream(row)
        done = [r for r in self.rows if r.finish_reason is not None]
        keep = [slot for slot, r in enumerate(self.rows) if r.finish_reason is None]
        if not keep:
            self.rows, self._generators, self._cache = [], [], None
            return done
        device = self._mask.device
        if len(keep) < len(self.rows):
            index = torch.tensor(keep, device=device)
            self._cache.batch_select_indices(index)
            self._mask, self._next_pos = self._mask[index], self._next_pos[index]
            self.rows = [self.rows[s] for s in keep]
            self._generators = [self._generators[s] for s in keep]
        tokens = torch.tensor([[r.tokens[-1]] for r in self.rows], device=device)
        self._mask = torch.cat([self._mask, torch.ones_like(self._mask[:, :1])], dim=1)
        out = self._forward(model, self.rows, tokens, self._mask, self._next_pos, self._cache, multi_adapter)
        self._logits = out.logits[:, -1].float().cpu()
        self._next_pos = self._next_pos + 1
        return done


def _pad_left(t: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - t.shape[dim]
    if missing == 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


def decode_round(model, rows: list[Row], stop_ids: list[int], pad_id: int,
                 decode: Callable[[list[int]], str], multi_adapter: bool = False) -> None:
    """Generate for every row until each stops, runs out of tokens or is cancelled (rows are updated)."""
    batch = LiveBatch(stop_ids, pad_id, decode)
    batch.add(model, rows, multi_adapter)
    while len(batch):
        batch.step(model, multi_adapter)
