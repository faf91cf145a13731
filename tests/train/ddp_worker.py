"""Train the tiny model with `train_lora` and write what each process saw and ended with.

Run by tests/train/test_distributed.py in two ways, so the same code path is compared with itself:

    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no \
        --dynamo_backend no tests/train/ddp_worker.py MODEL_DIR OUT_DIR   # 2 processes (torchrun)
    python tests/train/ddp_worker.py MODEL_DIR OUT_DIR                     # the single-process reference

With no GPU visible, train_lora's Accelerator(cpu=True) turns the torchrun environment into a
gloo process group on the CPU. (`accelerate launch --cpu --num_processes 2` is not the same: in
accelerate 1.x it starts ONE process unless an MPI hostfile is configured.)

For each packing mode, every process writes OUT_DIR/packing-{mode}/rank{i}.json (rows_seen, loss and
validation curves, per-step forward passes and gradient norms, num_processes) and rank{i}.safetensors
(its final adapter). Every rank writes its own adapter, not only the main one: the test checks that
the replicas did not drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed
from accelerate import Accelerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared conftest helpers
from conftest import clause_rows
from peft import get_peft_model_state_dict
from safetensors.torch import save_file

from lextune.models.loading import load_base_model
from lextune.train import local
from lextune.train.local import train_lora
from lextune.train.recipe import Recipe

ROWS, DEV_ROWS = 32, 6
STEPS = 4  # 4 steps x 8 rows: one epoch, each row trains exactly once


def recipe(model_dir: str, packing: bool) -> Recipe:
    # 110 tokens (rows are 30-57) splits each process's 4 rows into 2-3 micro-batches, and in step 2
    # into 3 on one process and 2 on the other: no_sync accumulation and the zero-loss filler pass
    # both run (the test checks the passes). A high learning rate makes each step move the weights.
    return Recipe(base_model=model_dir, batch_size=8, max_steps=STEPS, learning_rate=1e-2, warmup_ratio=0.0,
                  min_rows=4, packing=packing, micro_batch_tokens=110, eval_every=1)


class Spy:
    """Watches the loop without changing it: per step, the rows of each training forward pass and the
    gradient norm.

    The norm is the total before clipping, as train_lora's clip_grad_norm_ returns it. AdamW hardly
    depends on the gradient's scale and clipping caps it, so the adapters alone would not show a
    gradient off by a constant (say, the factor for DDP's averaging); this norm does.
    """

    def __init__(self) -> None:
        self.passes: list[list[int]] = []  # per step: rows in each forward pass (a filler pass holds 1)
        self.grad_norms: list[float] = []
        self._step: list[int] = []
        loss, clip = local.answer_loss, Accelerator.clip_grad_norm_

        def counting_loss(model, batch, reduction="mean"):
            if model.training:  # validation passes run in eval mode
                packed = batch.get("cu_seq_lens_q")
                self._step.append(len(packed) - 1 if packed is not None else len(batch["input_ids"]))
            return loss(model, batch, reduction)

        def recording_clip(accelerator, parameters, max_norm, norm_type=2):
            norm = clip(accelerator, parameters, max_norm, norm_type)
            self.grad_norms.append(float(norm))
            self.passes.append(self._step)
            self._step = []
            return norm

        local.answer_loss = counting_loss
        Accelerator.clip_grad_norm_ = recording_clip

    def clear(self) -> None:
        self.passes.clear()
        self.grad_norms.clear()


def main(model_dir: str, out_dir: str) -> None:
    spy = Spy()
    for packing in (True, False):
        spy.clear()
        model, tok, _ = load_base_model(model_dir)  # fresh base per run: train_lora wraps it in place
        peft_model, result = train_lora(model, tok, clause_rows(ROWS), recipe(model_dir, packing),
                                        dev_rows=clause_rows(DEV_ROWS, "dev"))
        folder = Path(out_dir) / f"packing-{packing}"
        folder.mkdir(parents=True, exist_ok=True)
        rank = result.process_index
        state = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(peft_model).items()}
        save_file(state, str(folder / f"rank{rank}.safetensors"))
        (folder / f"rank{rank}.json").write_text(json.dumps({
            "rows_seen": result.rows_seen, "loss_curve": result.loss_curve, "val_curve": result.val_curve,
            "grad_norms": spy.grad_norms, "passes": spy.passes,
            "process_index": rank, "num_processes": result.num_processes,
            "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        }))


if __name__ == "__main__":
    main(*sys.argv[1:3])
