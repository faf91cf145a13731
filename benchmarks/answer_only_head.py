"""Benchmark: LoRA training step with the LM head on every position vs on answer tokens only.

lextune's loop (train/local.py: answer_loss) runs the vocabulary head only where the loss is
taken. This measures both ways on the same model, batch and LoRA config, in the same run, and
prints tokens/second and the ratio. Usage:

    .venv/bin/python benchmarks/answer_only_head.py [--steps 4] [--batch 8] [--seq 150] [--answer 8]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model

from lextune.models.loading import load_base_model
from lextune.progress import quiet_libraries
from lextune.train.local import answer_loss


def full_head_loss(model, batch):
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    logits = out.logits[:, :-1].float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1),
                           ignore_index=-100)


def tokens_per_second(loss_fn, model, batch, steps: int) -> float:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    loss_fn(model, batch).backward()  # warm-up step, not timed
    opt.zero_grad()
    start = time.perf_counter()
    for _ in range(steps):
        loss_fn(model, batch).backward()
        opt.step()
        opt.zero_grad()
    return steps * batch["input_ids"].numel() / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-model", default=None)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=150)
    ap.add_argument("--answer", type=int, default=8)
    args = ap.parse_args()
    quiet_libraries()
    torch.manual_seed(0)
    model, _, resolved = load_base_model(args.base_model)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    ids = torch.randint(0, model.config.vocab_size, (args.batch, args.seq))
    labels = torch.full_like(ids, -100)
    labels[:, -args.answer:] = ids[:, -args.answer:]
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    full = tokens_per_second(full_head_loss, model, batch, args.steps)
    answer_only = tokens_per_second(answer_loss, model, batch, args.steps)
    print(f"model {resolved.name}, batch {args.batch}x{args.seq} tokens, answer {args.answer} tokens/row, "
          f"{torch.get_num_threads()} threads")
    print(f"full head:        {full:8.1f} tokens/s")
    print(f"answer-only head: {answer_only:8.1f} tokens/s")
    print(f"speed-up:         {answer_only / full:8.2f}x")


if __name__ == "__main__":
    main()
