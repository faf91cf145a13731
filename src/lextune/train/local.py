"""The local LoRA recipe: one readable loop on Accelerate + PEFT, on a CPU, a GPU, or many processes.

The whole run is a deterministic plan (`batch_order` from the seed): step k trains on the same rows
whatever happened before, so a checkpoint only needs the adapter, the optimizer, the scheduler,
the RNG states and the number of steps done, and a resumed run ends where an uninterrupted one
ends. Each step's rows are split over the processes, then into token-bounded micro-batches
(packed, or padded); gradients accumulate over them and are summed over processes, so the loss
is the batch's mean over answer tokens whatever the number of processes or micro-batches.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from transformers import get_linear_schedule_with_warmup

from lextune.core.errors import DatasetError
from lextune.core.records import DatasetRow
from lextune.models import adapters
from lextune.models.chat import IGNORE_INDEX
from lextune.security.keyring import Keyring
from lextune.security.sealed_files import CHECKPOINT, is_sealed, open_tree, scratch_dir, seal_tree
from lextune.train.batching import Encoded, batch_order, collate, encode_rows, micro_batches, pack
from lextune.train.packed_attention import use_packed_attention
from lextune.train.recipe import Recipe

StepCallback = Callable[[int, int, float], None]  # (step, total_steps, loss)
ADAPTER_FILE = "adapter_model.safetensors"


@dataclass
class TrainHooks:
    """What the job around the loop hears and how it can stop it (every callback optional)."""

    on_step: StepCallback | None = None
    on_eval: Callable[[int, float], None] | None = None  # (step, validation loss)
    on_checkpoint: Callable[[int, Path, dict], None] | None = None  # (step, folder, metrics)
    should_stop: Callable[[], bool] | None = None  # polled before each step: a cancel request


class TrainingCancelled(Exception):
    def __init__(self, step: int):
        super().__init__(f"cancelled after step {step}")
        self.step = step


@dataclass
class TrainResult:
    steps: int
    seconds: float
    train_tokens: int  # non-padding tokens the model read
    skipped_rows: list[str] = field(default_factory=list)
    skipped_reasons: dict[str, str] = field(default_factory=dict)
    cut_rows: int = 0  # rows whose passage lost its middle to fit max_seq_len
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    val_curve: list[tuple[int, float]] = field(default_factory=list)
    best_step: int | None = None
    stopped_early: bool = False
    resumed_from: int | None = None
    liger_kernels: bool = False
    rows_seen: list[str] = field(default_factory=list)  # row ids this process trained on, in order (this run)
    process_index: int = 0
    num_processes: int = 1


class Progress:
    """The data position and curves: saved with every checkpoint through Accelerate's custom objects."""

    def __init__(self) -> None:
        self.step = 0
        self.train_tokens = 0
        self.seconds = 0.0
        self.loss_curve: list[list] = []
        self.val_curve: list[list] = []
        self.best_step: int | None = None
        self.best_val = math.inf
        self.bad_evals = 0

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)


def answer_loss(model, batch: dict, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy on answer tokens only, through the model's own forward.

    `logits_to_keep` (a tensor of positions) makes the model run its vocabulary head only where a
    label is (a fifth of a small model's compute saved on prompt tokens) while still applying
    whatever its forward does to logits (final soft-capping, scaling): training sees the logits
    inference sees. Rows of a padded batch share the union of their answer positions.
    """
    targets = batch["labels"][:, 1:]
    positions = (targets != IGNORE_INDEX).any(0).nonzero()[:, 0]
    if positions.numel() == 0:
        raise ValueError("the batch has no answer token to train on")
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs, logits_to_keep=positions, use_cache=False).logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[:, positions].reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction=reduction)


def shard(idx: list[int], lengths: list[int], world: int) -> list[list[int]]:
    """A step's rows dealt to `world` processes, longest first in turn, so each gets a similar load."""
    ordered = sorted(idx, key=lambda i: -lengths[i])
    return [ordered[r::world] for r in range(world)]


def _mixed_precision(recipe: Recipe) -> str:
    if not torch.cuda.is_available():
        if recipe.precision in ("bf16", "fp16"):
            return "bf16" if recipe.precision == "bf16" else "no"  # fp16 autocast is a GPU feature
        return "no"  # 'auto' on a CPU: bf16 autocast measured slower than fp32 for training here
    if recipe.precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"fp32": "no"}.get(recipe.precision, recipe.precision)


def _apply_liger(model, recipe: Recipe) -> bool:
    if not (recipe.liger_kernels and torch.cuda.is_available()):
        return False
    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance
    except ImportError:
        return False
    # The loss stays ours (answer positions only), so no fused linear cross-entropy.
    _apply_liger_kernel_to_instance(model=model, fused_linear_cross_entropy=False, cross_entropy=False)
    return True


def _peft(model, recipe: Recipe):
    lora = recipe.lora
    if recipe.quantization != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=recipe.gradient_checkpointing)
    elif recipe.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    return get_peft_model(model, LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, use_dora=lora.use_dora,
        target_modules=lora.target_modules, task_type="CAUSAL_LM",
    ))


def _unwrap(model):
    return getattr(model, "module", model)


def _adapter_hooks(accelerator, peft_model) -> None:
    """Checkpoints hold the adapter only (a few MB), not the frozen base Accelerate would save.

    These hooks read and write plaintext: with a keyring, Accelerate's folder is a scratch folder in memory
    (see _plain_state_dir) and the checkpoint on disk is its sealed copy.
    """

    def save(models, weights, output_dir):
        if accelerator.is_main_process:
            from safetensors.torch import save_file

            state = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(_unwrap(peft_model)).items()}
            save_file(state, os.path.join(output_dir, ADAPTER_FILE))
        weights.clear()

    def load(models, input_dir):
        load_adapter_weights(_unwrap(peft_model), Path(input_dir))
        models.clear()

    accelerator.register_save_state_pre_hook(save)
    accelerator.register_load_state_pre_hook(load)


def load_adapter_weights(peft_model, folder: Path, keyring: Keyring | None = None) -> None:
    """A checkpoint's adapter, sealed or plain, opened in memory."""
    set_peft_model_state_dict(peft_model, adapters.load_adapter_state(folder, keyring, CHECKPOINT))


def _state_bytes(peft_model) -> int:
    """About what a checkpoint takes: the adapter, Adam's two moments, and room to spare."""
    return 4 * sum(p.numel() * p.element_size() for p in peft_model.parameters() if p.requires_grad) + (1 << 20)


@contextmanager
def _plain_state_dir(accelerator, folder: Path, name: str, need: int) -> Iterator[Path]:
    """Where Accelerate writes or reads a sealed checkpoint's plaintext, removed right after.

    One process: a private folder in memory (/dev/shm; on disk under `folder` only where there is no
    such memory or too little). Several processes must agree on one path that each can reach, so they
    use a folder beside the checkpoints: there the plaintext is on disk between save and seal.
    """
    if accelerator.num_processes == 1:
        with scratch_dir(folder, need) as d:
            yield d
        return
    d = folder / f".{name}.plain"
    if accelerator.is_main_process:
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    accelerator.wait_for_everyone()
    try:
        yield d
    finally:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            shutil.rmtree(d, ignore_errors=True)


def _load_checkpoint(accelerator, checkpoint: Path, keyring: Keyring | None, need: int) -> None:
    if not any(is_sealed(f) for f in checkpoint.rglob("*") if f.is_file()):
        accelerator.load_state(str(checkpoint))  # written before sealing, or without a keyring
        return
    with _plain_state_dir(accelerator, checkpoint.parent, f"load-{checkpoint.name}", need) as plain:
        if accelerator.is_main_process:
            open_tree(checkpoint, plain, keyring, CHECKPOINT)
        accelerator.wait_for_everyone()
        accelerator.load_state(str(plain))


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Finished checkpoints, oldest first (a folder appears only once its state is whole)."""
    folder = run_dir / "checkpoints"
    return sorted(p for p in folder.glob("step-*") if p.is_dir()) if folder.is_dir() else []


def train_lora(
    model, tokenizer, rows: list[DatasetRow], recipe: Recipe, on_step: StepCallback | None = None, *,
    dev_rows: list[DatasetRow] | None = None, run_dir: Path | None = None, resume: bool = False,
    hooks: TrainHooks | None = None, keyring: Keyring | None = None,
) -> tuple[object, TrainResult]:
    """Fine-tune a LoRA adapter on `rows`; returns (peft_model, result).

    With `run_dir`, resumable checkpoints go to run_dir/checkpoints every `checkpoint_every` steps,
    and `resume=True` continues from the newest one. With `dev_rows`, the validation loss is
    measured on a cadence, the best checkpoint is kept, early stopping applies, and the returned
    adapter is the best one. With `keyring`, checkpoints are sealed at rest (kind "checkpoint").
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    # Accelerate keeps one global precision per process: a second run with another recipe (a service
    # running jobs one after another) would be refused. Reset it, keeping the process group.
    AcceleratorState._reset_state(reset_partial_state=False)
    hooks = hooks or TrainHooks()
    hooks.on_step = hooks.on_step or on_step
    accelerator = Accelerator(mixed_precision=_mixed_precision(recipe), cpu=not torch.cuda.is_available())
    torch.manual_seed(recipe.seed)  # same adapter init on every process
    enc = encode_rows(tokenizer, rows, recipe.max_seq_len)
    if not enc.rows:
        raise DatasetError(f"no training row fits max_seq_len={recipe.max_seq_len}; raise it in the recipe")
    dev = encode_rows(tokenizer, dev_rows[: recipe.max_eval_rows], recipe.max_seq_len).rows if dev_rows else []
    lengths = [len(e.input_ids) for e in enc.rows]
    order = batch_order(lengths, recipe.batch_size, recipe.epochs, recipe.seed)[: recipe.max_steps or None]
    every = recipe.checkpoint_every or max(1, math.ceil(len(order) / 10))
    eval_every = recipe.eval_every or len(order)  # default: one validation, at the end

    liger = _apply_liger(model, recipe)
    previous_attention = use_packed_attention(model) if recipe.packing else None
    peft_model = _peft(model, recipe)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(recipe.warmup_ratio * len(order)), len(order))
    # The scheduler is not prepared: Accelerate would step it once per process per step.
    peft_model, optimizer = accelerator.prepare(peft_model, optimizer)
    progress = Progress()
    accelerator.register_for_checkpointing(scheduler, progress)
    _adapter_hooks(accelerator, peft_model)
    result = TrainResult(steps=len(order), seconds=0.0, train_tokens=0, skipped_rows=list(enc.skipped),
                         skipped_reasons=enc.skipped, cut_rows=enc.cut)
    if resume and run_dir and checkpoint_dirs(run_dir):
        _load_checkpoint(accelerator, checkpoint_dirs(run_dir)[-1], keyring, _state_bytes(peft_model))
        result.resumed_from = progress.step

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    world, rank = accelerator.num_processes, accelerator.process_index
    device = accelerator.device

    def to_batch(examples: list[Encoded]) -> dict:
        raw = pack(examples) if recipe.packing else collate(examples, pad)
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in raw.items()}

    start = time.perf_counter() - progress.seconds
    peft_model.train()
    try:
        for step in range(progress.step + 1, len(order) + 1):
            if hooks.should_stop and hooks.should_stop():
                raise TrainingCancelled(progress.step)
            idx = order[step - 1]
            n_answer = sum(enc.rows[i].answer_tokens for i in idx)  # the whole step's, on every process
            plans = [micro_batches(part, lengths, recipe.micro_batch_tokens, recipe.packing)
                     for part in shard(idx, lengths, world)]
            mine = plans[rank] + [[]] * (max(map(len, plans)) - len(plans[rank]))  # same count on every process
            step_loss = torch.zeros((), device=device)
            for k, micro in enumerate(mine):
                last = k == len(mine) - 1
                with nullcontext() if last or world == 1 else accelerator.no_sync(peft_model):
                    batch = to_batch([enc.rows[i] for i in micro] if micro else [enc.rows[idx[0]]])
                    with accelerator.autocast():
                        loss = answer_loss(peft_model, batch, reduction="sum") / n_answer
                    if not micro:
                        loss = loss * 0.0  # a process with fewer micro-batches joins the gradient sync
                    # DDP averages gradients over processes; the step's loss is their sum.
                    accelerator.backward(loss * world)
                step_loss += loss.detach()
                if micro:
                    progress.train_tokens += sum(lengths[i] for i in micro)
                    result.rows_seen += [enc.rows[i].row_id for i in micro]
            if world > 1:
                step_loss = accelerator.reduce(step_loss, reduction="sum")
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(peft_model.parameters(), 1.0)  # the prepared model: FSDP needs it
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            progress.step = step
            progress.loss_curve.append([step, round(step_loss.item(), 4)])
            progress.seconds = time.perf_counter() - start
            if hooks.on_step:
                hooks.on_step(step, len(order), progress.loss_curve[-1][1])
            stop = False
            if dev and (step % eval_every == 0 or step == len(order)):
                stop = _validate(peft_model, dev, to_batch, recipe, progress, accelerator, hooks)
            if run_dir and (step % every == 0 or step == len(order) or stop):
                _save_checkpoint(accelerator, run_dir, progress, recipe, hooks, keyring, _state_bytes(peft_model))
            if stop:
                result.stopped_early = True
                break
    finally:
        if previous_attention:
            model.set_attn_implementation(previous_attention)  # for evaluation and serving after training
    peft_model = accelerator.unwrap_model(peft_model)
    if dev and run_dir and progress.best_step not in (None, progress.step):
        best = run_dir / "checkpoints" / f"step-{progress.best_step:06d}"
        if best.is_dir():
            load_adapter_weights(peft_model, best, keyring)
    peft_model.eval()
    result.seconds = progress.seconds
    result.train_tokens = progress.train_tokens
    result.loss_curve = [tuple(x) for x in progress.loss_curve]
    result.val_curve = [tuple(x) for x in progress.val_curve]
    result.best_step = progress.best_step
    result.liger_kernels = liger
    result.process_index, result.num_processes = rank, world
    return peft_model, result


@torch.no_grad()
def _validate(model, dev: list[Encoded], to_batch, recipe: Recipe, progress: Progress, accelerator,
              hooks: TrainHooks) -> bool:
    """Mean answer-token loss on the dev rows; True when early stopping says stop."""
    model.eval()
    world, rank = accelerator.num_processes, accelerator.process_index
    lengths = [len(e.input_ids) for e in dev]
    total = torch.zeros(2, device=accelerator.device)  # summed loss, answer tokens
    for micro in micro_batches(shard(list(range(len(dev))), lengths, world)[rank], lengths,
                               recipe.micro_batch_tokens, recipe.packing):
        with accelerator.autocast():
            total[0] += answer_loss(model, to_batch([dev[i] for i in micro]), reduction="sum").float()
        total[1] += sum(dev[i].answer_tokens for i in micro)
    if world > 1:
        total = accelerator.reduce(total, reduction="sum")
    model.train()
    val = round((total[0] / total[1]).item(), 4)
    progress.val_curve.append([progress.step, val])
    if hooks.on_eval:
        hooks.on_eval(progress.step, val)
    if val < progress.best_val:
        progress.best_val, progress.best_step, progress.bad_evals = val, progress.step, 0
        return False
    progress.bad_evals += 1
    return bool(recipe.early_stopping_patience and progress.bad_evals >= recipe.early_stopping_patience)


def _save_checkpoint(accelerator, run_dir: Path, progress: Progress, recipe: Recipe, hooks: TrainHooks,
                     keyring: Keyring | None = None, need: int = 0) -> None:
    """Write the state to a temp folder, then rename: a crash mid-save leaves the previous checkpoints whole.

    With a keyring, Accelerate writes to a plaintext scratch folder and the temp folder gets its sealed copy.
    """
    folder = run_dir / "checkpoints"
    final = folder / f"step-{progress.step:06d}"
    tmp = folder / f".step-{progress.step:06d}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    if keyring is None:
        accelerator.save_state(str(tmp))
    else:
        with _plain_state_dir(accelerator, folder, f"save-{final.name}", need) as plain:
            accelerator.save_state(str(plain))
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                seal_tree(plain, tmp, keyring, CHECKPOINT)
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    keep = {p.name for p in checkpoint_dirs(run_dir)[-recipe.keep_checkpoints:]}
    if progress.best_step is not None:
        keep.add(f"step-{progress.best_step:06d}")
    for old in checkpoint_dirs(run_dir):
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    if hooks.on_checkpoint:
        metrics = {"loss": progress.loss_curve[-1][1] if progress.loss_curve else None}
        if progress.val_curve and progress.val_curve[-1][0] == progress.step:
            metrics["val_loss"] = progress.val_curve[-1][1]
        hooks.on_checkpoint(progress.step, final, metrics)


def save_adapter(peft_model, directory: Path, keyring: Keyring | None = None) -> None:
    """PEFT format (adapter_config.json + adapter_model.safetensors), the weights sealed with `keyring`
    (serialized in memory, so plaintext weights never reach the disk); `models export` gives plain ones."""
    adapters.save_adapter(peft_model, directory, keyring)
