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


def _left_pad(prompts: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    return ids, mask


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


@torch.inference_mode()
def decode_round(model, rows: list[Row], stop_ids: list[int], pad_id: int,
                 decode: Callable[[list[int]], str], multi_adapter: bool = False) -> None:
    """Generate for every row until each stops, runs out of tokens or is cancelled (rows are updated).

    With `multi_adapter`, rows may name different LoRA adapters of one PEFT model: PEFT routes
    each row through its own adapter inside one forward pass (mixed-adapter batch).
    """
    device = next(model.parameters()).device
    live = list(range(len(rows)))
    ids, mask = _left_pad([r.prompt for r in rows], pad_id)
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    generators = []
    for r in rows:
        g = None
        if r.temperature > 0 and r.seed is not None:
            g = torch.Generator().manual_seed(r.seed)
        generators.append(g)
    stops = set(stop_ids)

    def forward(input_ids, attention_mask, position_ids, cache):
        extra = {}
        if multi_adapter:
            extra["adapter_names"] = [rows[i].adapter or "__base__" for i in live]
        return model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                     past_key_values=cache, use_cache=True, logits_to_keep=1, **extra)

    out = forward(ids, mask, positions, None)
    cache = out.past_key_values
    next_pos = positions[:, -1:] + 1
    while True:
        logits = out.logits[:, -1].cpu()
        for slot, i in enumerate(live):
            row = rows[i]
            if row.cancelled():  # the client hung up: its slot is freed at once
                row.finish_reason = "cancelled"
                continue
            _advance(row, _pick(logits[slot], row, generators[i]), stops, decode)
            _stream(row)
        keep = [slot for slot, i in enumerate(live) if rows[i].finish_reason is None]
        if not keep:
            return
        if len(keep) < len(live):  # finished rows leave the batch and the cache
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, next_pos = mask[index], next_pos[index]
            live = [live[s] for s in keep]
        step = torch.tensor([[rows[i].tokens[-1]] for i in live], device=device)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = forward(step, mask, next_pos, cache)
        next_pos = next_pos + 1
