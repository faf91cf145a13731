"""Data parallelism through `accelerate launch`: two CPU processes (gloo) against one.

Both runs execute tests/train/ddp_worker.py, the same `train_lora` call, once under the launcher
with two processes and once as a plain single process, on the same rows, recipe and global batch.
DDP is right when each process trains on a different half of every step's rows and the two
processes end with one and the same adapter, the adapter the single process trains.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.distributed
from safetensors.torch import load_file

WORKER = Path(__file__).with_name("ddp_worker.py")
BATCH, WORLD = 8, 2  # the worker's recipe: 8 rows per optimizer step

pytestmark = pytest.mark.skipif(not torch.distributed.is_gloo_available(),
                                reason="torch was built without the gloo backend: no CPU process group")


def _free_port() -> int:
    # A fixed port (the default 29500) would collide with another run of this test on the machine.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], tmp: Path, name: str) -> subprocess.Popen:
    # One thread per process: no oversubscription of the two cores slowing gloo down.
    # No GPU visible: the processes use the CPU and gloo on any machine, a GPU one included.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
           "LEXTUNE_HOME": str(tmp / "home"), "TOKENIZERS_PARALLELISM": "false"}
    with (tmp / f"{name}.log").open("w") as log:  # a file, not a pipe: a full pipe would block the run
        # A session of its own, so a timeout can end the launcher and the workers it started together.
        return subprocess.Popen([*cmd, str(tmp / name)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _finish(proc: subprocess.Popen, tmp: Path, name: str) -> Path:
    proc.wait(timeout=240)
    assert proc.returncode == 0, f"{name} run failed:\n{(tmp / f'{name}.log').read_text()[-6000:]}"
    return tmp / name


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("ddp")
    # The torchrun launcher ('--multi_gpu'); on a CPU the processes form a gloo group. '--cpu' would
    # start a single process here (accelerate runs several CPU processes only through mpirun).
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(WORLD),
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(_free_port())]
    # Both at once: much of each run is importing torch and transformers, which leaves cores idle.
    procs = {"ddp": _start([*launch, str(WORKER), str(tiny_model_dir)], tmp, "ddp"),
             "single": _start([sys.executable, str(WORKER), str(tiny_model_dir)], tmp, "single")}
    try:
        return {name: _finish(proc, tmp, name) for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:  # timed out, or the other run failed first
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _load(folder: Path, rank: int) -> tuple[dict, dict[str, torch.Tensor]]:
    return json.loads((folder / f"rank{rank}.json").read_text()), load_file(str(folder / f"rank{rank}.safetensors"))


def _steps(rows: list[str], per_step: int) -> list[list[str]]:
    return [rows[i: i + per_step] for i in range(0, len(rows), per_step)]


@pytest.mark.parametrize("packing", [True, False], ids=["packed", "padded"])
def test_two_processes_split_the_rows_and_train_the_single_process_adapter(runs, packing):
    ranks = [_load(runs["ddp"] / f"packing-{packing}", r) for r in range(WORLD)]
    single, single_weights = _load(runs["single"] / f"packing-{packing}", 0)
    (r0, w0), (r1, w1) = ranks
    assert [r0["num_processes"], r1["num_processes"], single["num_processes"]] == [WORLD, WORLD, 1]
    assert [r0["process_index"], r1["process_index"]] == [0, 1]
    assert r0["backend"] == r1["backend"] == "gloo" and single["backend"] is None

    # Ranks see different rows; together, step by step, exactly the single run's global batch.
    assert not set(r0["rows_seen"]) & set(r1["rows_seen"])
    steps = _steps(single["rows_seen"], BATCH)
    assert len(steps) == 4 and len(set(single["rows_seen"])) == 4 * BATCH  # one epoch, each row once
    halves = list(zip(_steps(r0["rows_seen"], BATCH // WORLD), _steps(r1["rows_seen"], BATCH // WORLD),
                      strict=True))
    assert [Counter(a + b) for a, b in halves] == [Counter(s) for s in steps]

    # Each rank split its half into several micro-batches (no_sync for all but the last); in some step
    # one rank had fewer and ran a zero-loss filler pass (one row more than it trains) to join the sync.
    passes = [[len(step) for step in r["passes"]] for r in (r0, r1)]
    fillers = [[sum(step) - BATCH // WORLD for step in r["passes"]] for r in (r0, r1)]
    assert passes[0] == passes[1] and min(passes[0]) >= 2
    assert any(sorted(f) == [0, 1] for f in zip(*fillers, strict=True)), (passes, fillers)

    # The all-reduced gradient is the single process's gradient (its norm, before clipping): the
    # loss scaled by the world size undoes DDP's averaging. Measured relative difference: 5e-7.
    assert r0["grad_norms"] == r1["grad_norms"]
    assert r0["grad_norms"] == pytest.approx(single["grad_norms"], rel=1e-5)

    # Replicas stay identical: both apply the same all-reduced gradient with the same optimizer.
    assert w0.keys() == w1.keys() == single_weights.keys() and len(w0) > 0
    assert all(torch.equal(w0[k], w1[k]) for k in w0)

    # Equal to the single process up to float summation order: each rank sums its half of the
    # per-token losses and gloo adds the halves, where one process sums them all. Measured: median
    # difference 5e-9, largest 4e-6 on weights up to 0.14 (a fifth of this tolerance); one process
    # packed vs padded differs as much (4e-6). A wrong step would move weights by about lr = 1e-2.
    for k in w0:
        torch.testing.assert_close(w0[k], single_weights[k], rtol=1e-4, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")
    lora_b = [w0[k] for k in w0 if "lora_B" in k]  # initialised to zero: nonzero only if training moved it
    assert lora_b and all(b.abs().max() > 1e-3 for b in lora_b)

    # Curves are rounded to 4 decimals by the loop, so allow one unit in the last place.
    for curve in ("loss_curve", "val_curve"):
        assert r0[curve] == r1[curve]
        assert [s for s, _ in r0[curve]] == [s for s, _ in single[curve]] == [1, 2, 3, 4]
        assert [v for _, v in r0[curve]] == pytest.approx([v for _, v in single[curve]], abs=1.5e-4)
    losses = [v for _, v in single["loss_curve"]]
    assert losses[-1] < losses[0]  # the steps moved the model: matching curves are not trivially flat
