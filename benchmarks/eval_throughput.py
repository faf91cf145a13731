"""Benchmark: evaluation throughput of lextune.evals.engine.ModelScorer vs naive one-sequence loops.

Measured in the same run, on the same model and rows:
- multiple choice: ModelScorer.loglik (batched rows, prompt computed once per row, its KV cache reused
  for the 4 options) vs one full forward pass per (prompt + option) sequence;
- generation: ModelScorer.generate (batched greedy decoding, left padding, rows sorted by length) vs
  `model.generate` one prompt at a time.
Both sides are checked to give the same answers; each timing is the best of --repeats runs. Usage:

    .venv/bin/python benchmarks/eval_throughput.py [--tiny] [--rows 32] [--gen 64] [--max-new-tokens 32]

Rows come from ../shared/data/general/mmlu/legal_dev (MMLU CSVs: question, A-D, answer letter);
without it, generated text stands in. `--tiny` uses a random 2-layer model instead of the bundled one.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

import torch

from lextune.evals.engine import ModelScorer
from lextune.models.chat import end_of_turn_ids, prompt_ids
from lextune.progress import quiet_libraries

MMLU_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "general" / "mmlu" / "legal_dev"
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def mmlu_rows(n: int) -> list[tuple[str, list[str]]]:
    """n (subject, [question, A, B, C, D, answer]), taken in turn from each subject so lengths vary."""
    files = sorted(MMLU_DIR.glob("*.csv")) if MMLU_DIR.is_dir() else []
    if not files:
        rng = random.Random(0)
        words = ["court", "contract", "party", "shall", "agreement", "law", "notice", "breach", "claim", "term"]
        sentence = lambda k: " ".join(rng.choice(words) for _ in range(k))
        return [("law", [sentence(rng.randint(30, 200))] + [sentence(rng.randint(3, 20)) for _ in range(4)] + ["A"])
                for _ in range(n)]
    per_file = [[(f.stem.replace("_", " "), r) for r in csv.reader(f.open(encoding="utf-8"))] for f in files]
    rows: list[tuple[str, list[str]]] = []
    for i in range(max(len(r) for r in per_file)):
        rows += [r[i] for r in per_file if i < len(r)]
    return rows[:n]


def mc_prompt(subject: str, row: list[str]) -> str:
    """The zero-shot MMLU format of lextune's mmlu task (question, lettered options, "Answer:")."""
    options = "\n".join(f"{letter}. {text}" for letter, text in zip("ABCD", row[1:5]))
    return (f"The following are multiple choice questions (with answers) about {subject}.\n\n"
            f"{row[0]}\n{options}\nAnswer:")


def tiny_model():
    """A random 2-layer Llama with a byte-level BPE tokenizer trained on the benchmark's own text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    text = [" ".join(r) for _, r in mmlu_rows(200)]
    tok.train_from_iterator(text, trainers.BpeTrainer(
        vocab_size=2048, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    return LlamaForCausalLM(cfg).eval(), fast, "tiny random llama"


@torch.inference_mode()
def naive_loglik(model, tok, prompts: list[str], choices: list[list[str]]) -> list[list[float]]:
    """One forward pass per (prompt + choice), full logits, no batching and no cache reuse."""
    out = []
    for prompt, options in zip(prompts, choices):
        p = tok(prompt)["input_ids"]
        row = []
        for option in options:
            ids = tok(prompt + option)["input_ids"]
            logprobs = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
            row.append(sum(logprobs[k - 1, ids[k]].item() for k in range(len(p), len(ids))))
        out.append(row)
    return out


@torch.inference_mode()
def naive_generate(model, tok, conversations, max_new_tokens: int) -> list[str]:
    """model.generate on one prompt at a time, greedy, stopping at end-of-turn."""
    stops = end_of_turn_ids(tok)
    texts = []
    for conv in conversations:
        ids = torch.tensor([prompt_ids(tok, conv)])
        new = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=stops, pad_token_id=tok.pad_token_id)[0, ids.shape[1]:]
        new = new.tolist()
        cut = next((k for k, t in enumerate(new) if t in stops), len(new))
        texts.append(tok.decode(new[:cut], skip_special_tokens=True).strip())
    return texts


REPEATS = 2  # each timing is the best of this many runs: other processes on a small machine only add time


def timed(fn):
    best, result = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="a random tiny model instead of the bundled one")
    ap.add_argument("--rows", type=int, default=32, help="multiple-choice rows (4 options each)")
    ap.add_argument("--gen", type=int, default=64,
                    help="prompts to generate for (64: a task's sample in an evaluation, several decoding batches)")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8, help="ModelScorer rows per forward pass (loglik)")
    ap.add_argument("--gen-batch-size", type=int, default=None,
                    help="ModelScorer rows per decoding batch (default: lextune eval's, see ModelScorer)")
    ap.add_argument("--repeats", type=int, default=REPEATS, help="runs per timing; the best counts")
    args = ap.parse_args()
    globals()["REPEATS"] = max(1, args.repeats)
    quiet_libraries()
    if args.tiny:
        model, tok, name = tiny_model()
    else:
        from lextune.models.loading import load_base_model

        model, tok, resolved = load_base_model(None, device="cpu")
        name = resolved.name
    print(f"model {name}, {torch.get_num_threads()} torch threads")

    rows = mmlu_rows(args.rows)
    prompts = [mc_prompt(subject, r) for subject, r in rows]
    scorer = ModelScorer(model, tok, key=name, batch_size=args.batch_size)
    lengths = [len(tok(p)["input_ids"]) for p in prompts]
    print(f"multiple choice: {len(rows)} MMLU rows, prompts {min(lengths)}-{max(lengths)} tokens "
          f"(mean {sum(lengths) / len(lengths):.0f})")
    ratios = {}
    # The mmlu task's protocol (the letters " A".." D"), then the option texts themselves as the choices
    # (longer choices, as in classification tasks with long labels: the harder case for ModelScorer).
    for label, choices in (("letters", [[" A", " B", " C", " D"]] * len(rows)),
                           ("option texts", [[" " + c.strip() for c in r[1:5]] for _, r in rows])):
        scorer.loglik(prompts[:2], choices[:2])  # warm-up (thread pools, first allocations), not timed
        fast, t_fast = timed(lambda: scorer.loglik(prompts, choices))  # noqa: B023
        slow, t_slow = timed(lambda: naive_loglik(model, tok, prompts, choices))  # noqa: B023
        diff = max(abs(f[0] - s) for fr, sr in zip(fast, slow) for f, s in zip(fr, sr))
        option_tokens = [n for row in fast for _, n in row]
        print(f"  choices = {label} ({min(option_tokens)}-{max(option_tokens)} tokens):")
        print(f"    ModelScorer.loglik: {len(rows) / t_fast:7.2f} rows/s ({t_fast:.1f} s)")
        print(f"    naive loop:         {len(rows) / t_slow:7.2f} rows/s ({t_slow:.1f} s)")
        print(f"    largest difference in sum log-prob: {diff:.2e}; speed-up {t_slow / t_fast:.2f}x")
        ratios[label] = t_slow / t_fast

    convs = [[{"role": "user", "content": f"Answer briefly: {r[0]}"}] for _, r in mmlu_rows(args.gen * 4)[::4]]
    extra = {"generate_batch_size": args.gen_batch_size} if args.gen_batch_size else {}
    gen_scorer = ModelScorer(model, tok, key=name, **extra)
    gen_scorer.generate(convs[:2], 4)  # warm-up
    gens, g_fast = timed(lambda: gen_scorer.generate(convs, args.max_new_tokens))
    texts, g_slow = timed(lambda: naive_generate(model, tok, convs, args.max_new_tokens))
    same = sum(g.text == t for g, t in zip(gens, texts))
    lengths = [len(prompt_ids(tok, c)) for c in convs]
    print(f"generation: {len(convs)} chat prompts of {min(lengths)}-{max(lengths)} tokens, "
          f"max_new_tokens {args.max_new_tokens}, mean answer {sum(g.tokens for g in gens) / len(gens):.1f} tokens, "
          f"up to {gen_scorer.generate_batch_size} rows per batch within {gen_scorer.generate_token_budget} tokens")
    print(f"  ModelScorer.generate: {len(convs) / g_fast:7.2f} examples/s ({g_fast:.1f} s)")
    print(f"  naive loop:           {len(convs) / g_slow:7.2f} examples/s ({g_slow:.1f} s)")
    print(f"  same text as one-at-a-time: {same}/{len(convs)}")
    print(f"multiple choice vs naive: {ratios['letters']:.2f}x")
    print(f"multiple choice (option texts as choices) vs naive: {ratios['option texts']:.2f}x")
    print(f"generation vs naive: {g_slow / g_fast:.2f}x")


if __name__ == "__main__":
    main()
