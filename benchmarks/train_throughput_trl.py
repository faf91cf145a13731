"""The TRL side of benchmarks/train_throughput.py: `SFTTrainer` with `SFTConfig` defaults, and tuned.

Both get what lextune gets: the same model object, rows, LoRA config (PEFT `LoraConfig`), rows per
optimizer step, optimizer steps, peak learning rate, linear schedule with the same warm-up steps,
and seed. Everything else is TRL's (defaults) or what a careful user would set (tuned); each
choice is written to the notes the benchmark prints.

Tuned rows per forward pass (--trl-micro-batch, default 4, so 4 x 2 accumulation steps): measured on
the bundled model, 2-core CPU, 3 steps of 8 demo rows, padding-free: 8 x 1 gave 134 tokens/s at 7.5 GB
peak RSS, 4 x 2 186 tokens/s at 4.4 GB, 2 x 4 188 tokens/s at 3.3 GB (one long flattened row costs
attention over its whole length and falls out of cache).
"""

from __future__ import annotations

import tempfile
import time

import torch
from peft import LoraConfig

# Tried in this order for the tuned run: TRL refuses assistant-only loss when the chat template has no
# {% generation %} markers and it has no patched training template for it (SmolLM2's case).
TUNED_LOSSES = ("assistant_only_loss", "completion_only_loss")


def lora_config(spec: dict) -> LoraConfig:
    return LoraConfig(r=spec["lora_r"], lora_alpha=spec["lora_alpha"], lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")


def _config(spec: dict, out_dir: str, **extra):
    """SFTConfig with only the shared settings, plus `extra`."""
    from trl import SFTConfig

    on_cpu = not torch.cuda.is_available()
    shared = {
        "output_dir": out_dir, "max_steps": spec["steps"], "learning_rate": spec["learning_rate"],
        "lr_scheduler_type": "linear", "warmup_steps": spec["warmup_steps"], "seed": spec["seed"],
        "report_to": "none", "logging_steps": 1, "save_strategy": "no", "disable_tqdm": True,
        "max_length": spec["max_seq_len"],
        # SFTConfig's bf16=True default raises "Your setup doesn't support bf16/gpu. You need to assign
        # use_cpu" on a CPU: use_cpu=True is the smallest change that runs (bf16 autocast stays on).
        "use_cpu": on_cpu,
    }
    return SFTConfig(**{**shared, **extra})


def _dataset(rows, fmt: str):
    from datasets import Dataset

    if fmt == "messages":
        return Dataset.from_list([{"messages": r.messages} for r in rows])
    return Dataset.from_list([{"prompt": r.messages[:-1], "completion": r.messages[-1:]} for r in rows])


def padding_free_is_exact(model, tok, rows) -> float:
    """Largest logit difference between two rows run alone and flattened into one padding-free row.

    Transformers builds a block-diagonal SDPA mask from restarting position ids only without a KV
    cache (TRL passes use_cache=False): checked here on the real model before trusting it.
    """
    ids = [tok.apply_chat_template(r.messages, tokenize=True, return_dict=True)["input_ids"] for r in rows[:2]]
    with torch.no_grad():
        alone = [model(input_ids=torch.tensor([i]), use_cache=False).logits[0] for i in ids]
        flat = torch.tensor([ids[0] + ids[1]])
        pos = torch.tensor([list(range(len(ids[0]))) + list(range(len(ids[1])))])
        packed = model(input_ids=flat, position_ids=pos, use_cache=False).logits[0]
    return max((packed[: len(ids[0])] - alone[0]).abs().max().item(),
               (packed[len(ids[0]):] - alone[1]).abs().max().item())


def train_trl(model, tok, rows, spec: dict, tuned: bool, notes: list[str]) -> tuple[object, dict]:
    """Train with SFTTrainer; returns (peft model, stats). Only trainer.train() is timed as training."""
    from trl import SFTTrainer

    out_dir = tempfile.mkdtemp(prefix="lextune-bench-trl-")
    torch.manual_seed(spec["seed"])
    if not tuned:
        notes.append("SFTConfig defaults, except: max_steps, learning_rate, warmup_steps, seed, max_length (no row "
                     "is longer), report_to=none, logging_steps=1, save_strategy=no, disable_tqdm")
        if not torch.cuda.is_available():
            notes.append("use_cpu=True: SFTConfig's default bf16=True refuses to start on a CPU without it; "
                         "bf16 autocast stays on, as the defaults say")
        config = _config(spec, out_dir)
        started = time.perf_counter()
        trainer = SFTTrainer(model=model, args=config, train_dataset=_dataset(rows, "messages"),
                             processing_class=tok, peft_config=lora_config(spec))
    else:
        micro = spec["trl_micro_batch"]
        bf16 = torch.cuda.is_available()  # fp32 on a CPU, like lextune
        tuned_args = {"activation_checkpointing": False, "bf16": bf16, "per_device_train_batch_size": micro,
                      "gradient_accumulation_steps": spec["batch_size"] // micro}
        notes.append(f"no activation (gradient) checkpointing, bf16={bf16}, {micro} rows per forward pass x "
                     f"{spec['batch_size'] // micro} accumulation steps")
        if spec["padding_free"]:
            diff = padding_free_is_exact(model, tok, rows)
            if diff < 1e-3:
                # Without packing TRL wants max_length=None (it cannot truncate a flattened batch); no row is
                # longer than max_seq_len anyway. Packing (bfd) would make a batch 8 *packed sequences*, not 8 rows.
                tuned_args.update(padding_free=True, max_length=None)
                notes.append(f"padding_free=True (SDPA block-diagonal mask; checked exact, max |dlogit| {diff:.1e}); "
                             "no packing: it would change the rows per step")
            else:
                notes.append(f"padding-free not exact here (max |dlogit| {diff:.2f}): padded batches instead")
        trainer, config = None, None
        for loss in TUNED_LOSSES:
            fmt = "messages" if loss == "assistant_only_loss" else "prompt_completion"
            config = _config(spec, out_dir, **tuned_args, **{loss: True})
            started = time.perf_counter()
            try:
                trainer = SFTTrainer(model=model, args=config, train_dataset=_dataset(rows, fmt),
                                     processing_class=tok, peft_config=lora_config(spec))
                notes.append(f"{loss}=True" + (" (prompt/completion rows)" if fmt != "messages" else ""))
                break
            except ValueError as e:
                notes.append(f"{loss} refused by TRL: {str(e).splitlines()[0][:150]}")
        if trainer is None:
            raise RuntimeError(f"TRL refused every tuned loss setting; last: {notes[-1]}")
    setup = time.perf_counter() - started
    data = trainer.train_dataset
    trained_tokens = sum(len(x) for x in data["input_ids"])
    loss_tokens = (sum(t != -100 for x in data["labels"] for t in x[1:]) if "labels" in data.column_names
                   else trained_tokens - len(data))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    losses = [[h["step"], round(h["loss"], 4)] for h in trainer.state.log_history if "loss" in h]
    stats = {"train_s": seconds, "setup_s": setup, "steps": trainer.state.global_step,
             "tokens_read": trained_tokens, "loss_tokens": loss_tokens, "loss_curve": losses,
             "config": {k: str(getattr(config, k, None)) for k in (
                 "bf16", "activation_checkpointing", "per_device_train_batch_size", "gradient_accumulation_steps",
                 "padding_free", "packing", "assistant_only_loss", "completion_only_loss", "max_length", "optim",
                 "lr_scheduler_type", "warmup_steps")}}
    return trainer.model, stats
