"""Benchmark: LoRA training throughput of lextune's loop vs TRL `SFTTrainer` (defaults, and tuned).

One run trains the same base model on the same rows (the demo's clause + instruction rows), with the
same LoRA config (r=16, alpha=32, dropout 0, all linear layers), rows per optimizer step, optimizer
steps, peak learning rate, linear schedule and warm-up, and seed, through:

- lextune: `lextune.train.local.train_lora` with a Recipe (fp32 on a CPU, answer-only loss and head,
  token-bounded packed micro-batches);
- TRL defaults: `SFTTrainer` + `SFTConfig` defaults on `{"messages": ...}` rows (see train_throughput_trl.py
  for the few settings given, and why `use_cpu=True` is needed on a CPU);
- TRL tuned: no gradient checkpointing, fp32 on a CPU, assistant-only loss or else completion-only loss
  (prompt/completion rows), padding-free batches when exact here.

Each variant runs in its own process (so peak RSS is its own), in turn; a failing one prints its error
and the others still run. Measured and printed for each:

- tokens/s: the trained rows' non-padding tokens (lextune's chat-template tokenization, counted once:
  identical rows for every variant) / the training call's wall time. lextune: the whole `train_lora`
  call (its row encoding, PEFT wrapping and Accelerate setup included); TRL: `trainer.train()` only,
  with the `SFTTrainer(...)` construction (dataset tokenization, PEFT wrapping) shown as setup.
  Model loading is never timed.
- peak RSS of the variant's process (peak GPU memory on a GPU);
- held-out answer loss after training: mean cross-entropy over answer tokens (the assistant's content and
  its end-of-turn token) of held-out dev rows, computed the same way for every model
  (`lextune.train.batching.encode_rows` + `lextune.train.local.answer_loss`, fp32, no autocast);
- MFU: achieved model FLOP/s / the fp32 matmul peak measured here (best of several 2048^2 and 1024^2
  fp32 matmuls on torch's threads). Model FLOPs per token, the same for every variant (the work the task
  needs, not what an implementation happens to do; gradient-checkpointing recompute is not counted):
      4 N_frozen (forward 2N + input gradients 2N; frozen weights get no weight gradients)
    + 6 N_lora (forward, input and weight gradients of the adapters)
    + attention: 6 D L sum_rows n(n+1) / tokens (causal QK^T and AV, forward + 2x backward; D = heads x
      head_dim, L = layers)
    + LM head on answer positions only: 4 d V x answer tokens / tokens.
  The bf16 matmul peak is printed too, for information (CPUs with AMX run bf16 far faster than fp32).

Usage (figures are indicative: other jobs on a shared machine only add time):

    .venv/bin/python benchmarks/train_throughput.py [--steps 10] [--batch-size 8] [--heldout 64] [--tiny]

The rows are built once with the demo's ingest + build (about 5 minutes on 2 cores) into a cache folder
(--rows-cache, default ~/.cache/lextune-bench) and reused. Needs TRL: pip install trl (pulls `datasets`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

VARIANTS = {
    "base": "stock model (no training; held-out loss reference)",
    "lextune": "lextune train_lora",
    "trl-defaults": "TRL SFTConfig defaults",
    "trl-tuned": "TRL tuned",
    "lextune-bf16": "lextune, precision bf16 (autocast)",  # not in the default set: for information
}
DEFAULT_VARIANTS = "base,lextune,trl-defaults,trl-tuned"
EVAL_MICRO_TOKENS = 1200


# ---------------------------------------------------------------- rows


def _cache_key() -> str:
    from lextune.demo import DEMO_BUILD, sample_path

    stat = sample_path().stat()
    text = f"{DEMO_BUILD.model_dump_json()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def demo_rows(cache_root: Path) -> Path:
    """A folder with the demo dataset's train/dev/test JSONL, built once (ingest + build) and cached."""
    folder = cache_root / f"demo-rows-{_cache_key()}"
    if (folder / "dev.jsonl").is_file():
        return folder
    from lextune.core.config import get_settings
    from lextune.core.store import Store
    from lextune.data.dataset import build_dataset, split_path
    from lextune.demo import DEMO_BUILD, sample_path
    from lextune.vault.vault import Vault

    print(f"building the demo's rows once into {folder} (ingest + anonymize + build: minutes)", flush=True)
    cache_root.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="home-", dir=cache_root))
    previous = os.environ.get("LEXTUNE_HOME")
    os.environ["LEXTUNE_HOME"] = str(home)  # never the user's own state folder
    try:
        settings = get_settings()
        settings.ensure_dirs()
        store = Store(settings)
        Vault(store).ingest([sample_path()])
        info = build_dataset(store, DEMO_BUILD)
        tmp = Path(tempfile.mkdtemp(prefix="rows-", dir=cache_root))
        for split in ("train", "dev", "test"):
            shutil.copy(split_path(info, split), tmp / f"{split}.jsonl")
        os.replace(tmp, folder)
    finally:
        if previous is None:
            os.environ.pop("LEXTUNE_HOME", None)
        else:
            os.environ["LEXTUNE_HOME"] = previous
        shutil.rmtree(home, ignore_errors=True)
    return folder


def fitting_rows(tok, rows, max_len: int):
    """Rows whose whole conversation fits max_len - 1 tokens uncut (TRL adds the template's trailing newline),
    so no variant cuts or truncates anything."""
    from lextune.models.chat import encode_example

    out = []
    for r in rows:
        try:
            ex = encode_example(tok, r.messages, max_len)
        except ValueError:
            continue
        if ex.cut_tokens == 0 and len(ex.input_ids) < max_len:
            out.append(r)
    return out


def pick(rows, n: int, seed: int, tasks: list[str] | None):
    rows = [r for r in rows if not tasks or r.task in tasks]
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows[:n]


# ---------------------------------------------------------------- model, FLOPs, peaks


def tiny_model_dir(out: Path) -> Path:
    """The random 2-layer Llama of benchmarks/eval_throughput.py, saved so every variant loads the same one."""
    from eval_throughput import tiny_model

    model, tok, _ = tiny_model()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def load(spec: dict):
    from transformers import AutoModelForCausalLM

    from lextune.models.loading import load_base_model, load_tokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if spec["model_dir"]:
        model = AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=torch.float32).to(device)
        return model, load_tokenizer(Path(spec["model_dir"]))
    model, tok, _ = load_base_model(None, device=device)
    return model, tok


def model_flops_per_token(config, lengths: list[int], answer_tokens: int, lora_r: int) -> dict:
    """Model FLOPs per trained token (see the module docstring), from the architecture on the meta device."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    head = model.get_output_embeddings()
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head]
    n_frozen = sum(m.in_features * m.out_features for m in linears)
    n_lora = sum(lora_r * (m.in_features + m.out_features) for m in linears)
    text = config.get_text_config()
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    d_attn = text.num_attention_heads * head_dim
    tokens = sum(lengths)
    attention = 6 * d_attn * text.num_hidden_layers * sum(n * (n + 1) for n in lengths) / tokens
    lm_head = 4 * head.in_features * head.out_features * answer_tokens / tokens
    total = 4 * n_frozen + 6 * n_lora + attention + lm_head
    return {"n_frozen": n_frozen, "n_lora": n_lora, "frozen": 4 * n_frozen, "lora": 6 * n_lora,
            "attention": attention, "lm_head": lm_head, "total": total}


def matmul_peak(dtype: torch.dtype, repeats: int = 10) -> float:
    """Best GFLOP/s of square matmuls on torch's threads (several sizes, the best timing of each)."""
    best = 0.0
    for n in (1024, 2048):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        for _ in range(3):
            a @ b  # warm-up: thread pool, oneDNN kernels
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            best = max(best, 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


# ---------------------------------------------------------------- one variant (child process)


def _machine_busy_s() -> float | None:
    """CPU seconds all processes have used (from /proc/stat), or None where there is none."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


class OtherLoad:
    """Share of the machine's CPU time that other processes used while the block ran (a shared machine
    slows the timed run; this says by how much it was shared)."""

    def __enter__(self):
        self.wall, self.own, self.busy = time.perf_counter(), time.process_time(), _machine_busy_s()
        return self

    def __exit__(self, *exc) -> None:
        busy = _machine_busy_s()
        wall, own = time.perf_counter() - self.wall, time.process_time() - self.own
        self.share = (None if busy is None or self.busy is None
                      else max(0.0, (busy - self.busy - own) / (wall * (os.cpu_count() or 1))))


@torch.no_grad()
def heldout_loss(model, tok, rows, max_len: int) -> tuple[float, int]:
    """Mean cross-entropy over the held-out rows' answer tokens (content + end-of-turn), fp32, padded batches."""
    from lextune.train.batching import collate, encode_rows, micro_batches
    from lextune.train.local import answer_loss

    enc = encode_rows(tok, rows, max_len).rows
    lengths = [len(e.input_ids) for e in enc]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for micro in micro_batches(list(range(len(enc))), lengths, EVAL_MICRO_TOKENS):
        batch = {k: v.to(device) for k, v in collate([enc[i] for i in micro], pad).items()}
        total += answer_loss(model, batch, reduction="sum").float().item()
        n += sum(enc[i].answer_tokens for i in micro)
    model.train(was_training)
    return total / n, n


def train_lextune(model, tok, rows, spec: dict, notes: list[str], precision: str = "auto") -> tuple[object, dict]:
    from lextune.train.local import train_lora
    from lextune.train.recipe import LoraSettings, Recipe

    recipe = Recipe(
        lora=LoraSettings(r=spec["lora_r"], alpha=spec["lora_alpha"], dropout=0.0, target_modules="all-linear"),
        epochs=1.0, max_steps=spec["steps"], batch_size=spec["batch_size"], learning_rate=spec["learning_rate"],
        warmup_ratio=spec["warmup_steps"] / spec["steps"], max_seq_len=spec["max_seq_len"], seed=spec["seed"],
        precision=precision, min_rows=1,
    )
    notes.append(f"Recipe defaults otherwise: packing={recipe.packing}, micro_batch_tokens="
                 f"{recipe.micro_batch_tokens}, gradient_checkpointing={recipe.gradient_checkpointing}, "
                 f"precision={recipe.precision}")
    started = time.perf_counter()
    peft_model, result = train_lora(model, tok, rows, recipe)
    seconds = time.perf_counter() - started
    return peft_model, {"train_s": seconds, "setup_s": 0.0, "loop_s": result.seconds, "steps": result.steps,
                        "tokens_read": result.train_tokens, "loss_curve": [list(x) for x in result.loss_curve]}


def _train(variant: str, model, tok, rows, spec: dict, notes: list[str]) -> tuple[object, dict]:
    if variant == "base":
        return model, {}
    if variant in ("lextune", "lextune-bf16"):
        return train_lextune(model, tok, rows, spec, notes, "bf16" if variant == "lextune-bf16" else "auto")
    if variant in ("trl-defaults", "trl-tuned"):
        from train_throughput_trl import train_trl

        return train_trl(model, tok, rows, spec, variant == "trl-tuned", notes)
    raise ValueError(f"unknown variant {variant}")


def run_child(variant: str, spec_path: Path, out_path: Path) -> None:
    from lextune.data.dataset import read_rows
    from lextune.progress import quiet_libraries

    quiet_libraries()
    spec = json.loads(spec_path.read_text())
    notes: list[str] = []
    out = {"variant": variant, "ok": False, "notes": notes}
    try:
        torch.manual_seed(spec["seed"])
        model, tok = load(spec)
        train_rows = read_rows(Path(spec["train_rows"]))
        held = read_rows(Path(spec["heldout_rows"]))
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        meter = OtherLoad()
        with meter:
            model, stats = _train(variant, model, tok, train_rows, spec, notes)
        out["other_load"] = meter.share
        out.update(stats)
        if torch.cuda.is_available():
            out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        started = time.perf_counter()
        out["heldout_loss"], out["heldout_tokens"] = heldout_loss(model, tok, held, spec["max_seq_len"])
        out["heldout_s"] = time.perf_counter() - started
        out["ok"] = True
    except Exception as e:  # noqa: BLE001 - reported by the parent; the other variants still run
        out["error"] = f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out_path.write_text(json.dumps(out))


# ---------------------------------------------------------------- orchestration (parent)


def run_variant(variant: str, spec_path: Path, work: Path, timeout: int, round_: int) -> dict:
    out_path, log_path = work / f"{variant}-{round_}.json", work / f"{variant}-{round_}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", variant, "--spec", str(spec_path),
           "--out", str(out_path)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TQDM_DISABLE": "1"}
    print(f"running {variant} ...", flush=True)
    started = time.perf_counter()
    try:
        with log_path.open("w") as log:
            proc = subprocess.run(cmd, check=False, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"variant": variant, "ok": False, "error": f"timed out after {timeout} s", "notes": []}
    result = json.loads(out_path.read_text()) if out_path.is_file() else {
        "variant": variant, "ok": False, "notes": [], "error": f"exit code {proc.returncode}, no result"}
    result["process_s"] = time.perf_counter() - started
    if not result["ok"]:
        tail = log_path.read_text(errors="replace")[-3000:]
        print(f"  {variant} FAILED: {result.get('error')}\n{result.get('traceback', '') or tail}", flush=True)
    elif "train_s" in result:
        print(f"  {variant}: {result['train_s']:.1f} s training", flush=True)
    return result


def fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def report(results: dict[str, dict], tokens: int, flops: dict, peak32: float) -> None:
    on_gpu = torch.cuda.is_available()
    mem = "peak GPU MB" if on_gpu else "peak RSS MB"
    print(f"\n{'variant':<14} {'tokens/s':>9} {'train s':>8} {'setup s':>8} {mem:>12} {'held-out':>9} "
          f"{'MFU %':>6} {'others %':>9}")
    for name, r in results.items():
        if not r.get("ok"):
            print(f"{name:<14} FAILED: {(r.get('error') or '?').splitlines()[0][:200]}")
            continue
        tps = tokens / r["train_s"] if "train_s" in r else None
        r["tokens_per_s"] = tps
        r["mfu"] = tps * flops["total"] / (peak32 * 1e9) if tps else None
        memory = r.get("gpu_peak_mb") if on_gpu else r.get("peak_rss_mb")
        others = r.get("other_load") if tps else None
        print(f"{name:<14} {fmt(tps, '9.1f'):>9} {fmt(r.get('train_s'), '8.1f'):>8} "
              f"{fmt(r.get('setup_s'), '8.1f'):>8} {fmt(memory, '12.0f'):>12} {r['heldout_loss']:9.4f} "
              f"{fmt(r['mfu'] and 100 * r['mfu'], '6.1f'):>6} {fmt(others and 100 * others, '9.0f'):>9}")
    print("(others %: share of the machine's CPU time other processes used during that training run)")
    for name, r in results.items():
        if r.get("notes") or r.get("loss_curve"):
            print(f"\n{name}: {VARIANTS[name]}")
        for note in r.get("notes", []):
            print(f"  - {note}")
        if r.get("ok") and "steps" in r:
            curve = " ".join(f"{loss:.3f}" for _, loss in r["loss_curve"])
            extra = f", loop {r['loop_s']:.1f} s" if r.get("loop_s") else ""
            target = f", loss on {r['loss_tokens']} of them" if r.get("loss_tokens") else ""
            print(f"  - {r['steps']} steps, {r['tokens_read']} tokens read (its own tokenization){target}{extra}; "
                  f"training loss per step (its own objective): {curve}")
            if r.get("config"):
                print("  - effective: " + ", ".join(f"{k}={v}" for k, v in r["config"].items()))

    print()
    ok = {k: r for k, r in results.items() if r.get("ok") and r.get("tokens_per_s")}
    lex = ok.get("lextune")
    for key, label in (("trl-defaults", "TRL defaults"), ("trl-tuned", "TRL tuned")):
        ratio = f"{lex['tokens_per_s'] / ok[key]['tokens_per_s']:.2f}x" if lex and key in ok else "n/a"
        print(f"lextune vs {label}: {ratio} tokens/s")
    mfu = f"{100 * lex['mfu']:.0f}%" if lex else "n/a"
    print(f"lextune MFU: {mfu} of the measured fp32 peak ({peak32:.0f} GFLOP/s)")
    if lex and "lextune-bf16" in ok:
        print(f"lextune-bf16 vs lextune: {ok['lextune-bf16']['tokens_per_s'] / lex['tokens_per_s']:.2f}x tokens/s")
    losses = [f"{k} {r['heldout_loss']:.4f}" for k, r in results.items() if r.get("ok")]
    print("held-out answer loss: " + " | ".join(losses))


def best_of(runs: list[dict]) -> dict:
    """The fastest successful run of a variant (other jobs on the machine only add time), else the last."""
    good = [r for r in runs if r.get("ok")]
    return min(good, key=lambda r: r.get("train_s", 0.0)) if good else runs[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps for every variant")
    ap.add_argument("--batch-size", type=int, default=8, help="rows per optimizer step")
    ap.add_argument("--learning-rate", type=float, default=4e-4)
    ap.add_argument("--warmup-steps", type=int, default=1, help="linear warm-up steps, then linear decay to 0")
    ap.add_argument("--max-seq-len", type=int, default=384, help="the demo recipe's; longer rows are left out")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=int, default=32)
    ap.add_argument("--heldout", type=int, default=64, help="held-out dev rows for the answer loss")
    ap.add_argument("--tasks", default=None, help="comma-separated demo tasks to keep (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trl-micro-batch", type=int, default=4,
                    help="TRL tuned: rows per forward pass (accumulation = batch size / this)")
    ap.add_argument("--no-padding-free", action="store_true", help="TRL tuned: padded batches")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--tiny", action="store_true", help="a random 2-layer Llama instead of the bundled model")
    ap.add_argument("--rows-cache", type=Path, default=Path("~/.cache/lextune-bench").expanduser())
    ap.add_argument("--timeout", type=int, default=2400, help="seconds per variant")
    ap.add_argument("--repeats", type=int, default=1,
                    help="rounds over the variants (interleaved); each variant's fastest run counts")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_child(args.child, args.spec, args.out)
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown or args.batch_size % args.trl_micro_batch:
        ap.error(f"unknown variants {sorted(unknown)}" if unknown else "--trl-micro-batch must divide --batch-size")

    from transformers import AutoConfig

    from lextune.data.dataset import read_rows
    from lextune.models.loading import base_model_dir, load_tokenizer
    from lextune.progress import quiet_libraries
    from lextune.train.batching import encode_rows

    quiet_libraries()
    work = Path(tempfile.mkdtemp(prefix="lextune-bench-train-"))
    if args.tiny:
        model_dir, name = tiny_model_dir(work / "tiny-model"), "tiny random llama (2 layers)"
    else:
        resolved, model_dir = base_model_dir(None)
        name = resolved.name
    tok = load_tokenizer(model_dir)
    folder = demo_rows(args.rows_cache)
    tasks = args.tasks.split(",") if args.tasks else None
    n_train = args.steps * args.batch_size
    train = pick(fitting_rows(tok, read_rows(folder / "train.jsonl"), args.max_seq_len), n_train, args.seed, tasks)
    held = pick(fitting_rows(tok, read_rows(folder / "dev.jsonl"), args.max_seq_len), args.heldout, args.seed, tasks)
    if len(train) < n_train:
        sys.exit(f"only {len(train)} training rows fit; --steps x --batch-size needs {n_train}")
    for rows, split in ((train, "train"), (held, "heldout")):
        (work / f"{split}.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in rows))
    enc = encode_rows(tok, train, args.max_seq_len)
    lengths = [len(e.input_ids) for e in enc.rows]
    tokens, answer = sum(lengths), sum(e.answer_tokens for e in enc.rows)
    config = AutoConfig.from_pretrained(model_dir)
    flops = model_flops_per_token(config, lengths, answer, args.lora_r)
    spec = {"model_dir": str(model_dir) if args.tiny else None, "train_rows": str(work / "train.jsonl"),
            "heldout_rows": str(work / "heldout.jsonl"), "steps": args.steps, "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "warmup_steps": args.warmup_steps, "max_seq_len": args.max_seq_len,
            "lora_r": args.lora_r, "lora_alpha": args.lora_alpha, "seed": args.seed,
            "trl_micro_batch": args.trl_micro_batch, "padding_free": not args.no_padding_free}
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))

    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16, repeats=5)
    counts: dict[str, int] = {}
    for r in train:
        counts[r.task] = counts.get(r.task, 0) + 1
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores"
    print(f"model: {name}; {device}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"rows: {len(train)} demo train rows ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}), "
          f"{args.steps} optimizer steps x {args.batch_size} rows, one epoch; {len(held)} held-out dev rows")
    print(f"trained tokens: {tokens} non-padding ({tokens / len(lengths):.0f} per row, {answer} answer tokens); "
          f"max_seq_len {args.max_seq_len}, no row cut")
    print(f"LoRA r={args.lora_r} alpha={args.lora_alpha} dropout 0 all-linear; AdamW lr {args.learning_rate}, "
          f"linear schedule, {args.warmup_steps} warm-up step(s); seed {args.seed}")
    print(f"matmul peak (measured here): fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s")
    print(f"model FLOPs per token: {flops['total'] / 1e6:.0f} M = 4 x {flops['n_frozen'] / 1e6:.1f} M frozen "
          f"linear ({flops['frozen'] / 1e6:.0f} M) + 6 x {flops['n_lora'] / 1e6:.2f} M LoRA "
          f"({flops['lora'] / 1e6:.0f} M) + attention {flops['attention'] / 1e6:.0f} M + LM head on answer "
          f"positions {flops['lm_head'] / 1e6:.0f} M", flush=True)

    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for round_ in range(max(1, args.repeats)):
        for v in variants:
            if round_ == 0 or v != "base":  # the stock model's loss does not change
                runs[v].append(run_variant(v, spec_path, work, args.timeout, round_))
    again = matmul_peak(torch.float32)
    print(f"fp32 matmul peak measured again after the runs: {again:.0f} GFLOP/s (the higher one counts)")
    report({v: best_of(r) for v, r in runs.items()}, tokens, flops, max(peak32, again))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
