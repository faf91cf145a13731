"""Batched greedy generation that stops at end-of-turn, and log-likelihood of candidate answers."""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import PreTrainedTokenizerBase

from lextune.models.chat import end_of_turn_ids, prompt_ids

Progress = Callable[[int], None]


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and attention mask: every row ends at the last column, where generation continues."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:  # an empty row stays all padding
            ids[i, width - len(s):] = torch.tensor(s)
            mask[i, width - len(s):] = 1
    return ids, mask


@torch.inference_mode()
def generate(
    model,
    tokenizer: PreTrainedTokenizerBase,
    conversations: list[list[dict[str, str]]],
    max_new_tokens: int = 64,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> list[str]:
    """Greedy answers for each conversation (prompt messages only), cut at end-of-turn."""
    stops = end_of_turn_ids(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    encoded = [prompt_ids(tokenizer, c) for c in conversations]
    # Sorting by length keeps padding (wasted compute) small within each batch.
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    answers: list[str] = [""] * len(encoded)
    device = next(model.parameters()).device
    for b in range(0, len(order), batch_size):
        idx = order[b: b + batch_size]
        ids, mask = left_pad([encoded[i] for i in idx], pad)
        out = model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
            do_sample=False, eos_token_id=stops, pad_token_id=pad,
        )
        for row, i in enumerate(idx):
            new = out[row, ids.shape[1]:].tolist()
            cut = next((k for k, t in enumerate(new) if t in stops), len(new))
            answers[i] = tokenizer.decode(new[:cut], skip_special_tokens=True).strip()
        if progress:
            progress(len(idx))
    return answers


@torch.inference_mode()
def choice_logprobs(
    model,
    tokenizer: PreTrainedTokenizerBase,
    conversation: list[dict[str, str]],
    choices: list[str],
) -> list[float]:
    """Sum of log-probabilities of each choice as the whole assistant answer (plus end-of-turn).

    The prompt runs once; its key/value cache is repeated for all choices, so scoring ten
    labels costs little more than one forward pass over the prompt.
    """
    device = next(model.parameters()).device
    prompt = prompt_ids(tokenizer, conversation)
    eot = end_of_turn_ids(tokenizer)[0]
    conts = [tokenizer(c, add_special_tokens=False)["input_ids"] + [eot] for c in choices]
    out = model(input_ids=torch.tensor([prompt], device=device), use_cache=True, logits_to_keep=1)
    first_logprobs = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
    cache = out.past_key_values
    cache.batch_repeat_interleave(len(conts))
    width = max(len(c) for c in conts)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eot
    ids = torch.full((len(conts), width), pad, dtype=torch.long)
    mask = torch.ones((len(conts), len(prompt) + width), dtype=torch.long)
    for i, c in enumerate(conts):
        ids[i, : len(c)] = torch.tensor(c)
        mask[i, len(prompt) + len(c):] = 0  # right padding is never attended to by real tokens
    logits = model(
        input_ids=ids.to(device), attention_mask=mask.to(device), past_key_values=cache
    ).logits
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    scores = []
    for i, c in enumerate(conts):
        total = first_logprobs[c[0]].item()
        for k in range(1, len(c)):
            total += logprobs[i, k - 1, c[k]].item()
        scores.append(total)
    return scores
