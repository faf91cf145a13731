"""Turn dataset rows into padded, length-grouped batches with answer-only labels."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from lextune.core.records import DatasetRow
from lextune.models.chat import IGNORE_INDEX, encode_example


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]


def encode_rows(
    tokenizer: PreTrainedTokenizerBase, rows: list[DatasetRow], max_len: int
) -> tuple[list[Encoded], list[str]]:
    """Encoded rows, plus the ids of rows whose answer alone cannot fit in max_len (left out)."""
    encoded, skipped = [], []
    for r in rows:
        try:
            encoded.append(Encoded(*encode_example(tokenizer, r.messages, max_len)))
        except ValueError:
            skipped.append(r.id)
    return encoded, skipped


def batch_order(lengths: list[int], batch_size: int, epochs: float, seed: int) -> list[list[int]]:
    """Batches of row indices for `epochs` passes; rows of similar length share a batch.

    Grouping by length within windows of a few batches cuts padding (wasted CPU time) while
    the shuffles keep the order random enough for SGD.
    """
    rng = random.Random(seed)
    batches: list[list[int]] = []
    for _ in range(math.ceil(epochs)):
        idx = list(range(len(lengths)))
        rng.shuffle(idx)
        window = batch_size * 8
        for w in range(0, len(idx), window):
            group = sorted(idx[w: w + window], key=lambda i: lengths[i])
            batches.extend(group[b: b + batch_size] for b in range(0, len(group), batch_size))
    per_epoch = math.ceil(len(lengths) / batch_size)
    total = max(1, round(per_epoch * epochs))
    epoch_batches = [batches[e * per_epoch:(e + 1) * per_epoch] for e in range(math.ceil(epochs))]
    for eb in epoch_batches:
        rng.shuffle(eb)
    return [b for eb in epoch_batches for b in eb][:total]


def collate(examples: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
