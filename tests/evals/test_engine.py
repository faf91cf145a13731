"""ModelScorer against one-sequence-at-a-time references on the tiny random Llama, and the result cache."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from lextune.evals import engine
from lextune.evals.engine import ModelScorer
from lextune.evals.records import Generation
from lextune.evals.result_cache import CachedScorer
from lextune.models.chat import end_of_turn_ids, prompt_ids

PREAMBLE = "Governing Law. This Agreement shall be governed by the laws of the State of Delaware. Q: "
RAW = [PREAMBLE + "which state?", PREAMBLE + "x", "The parties agree that", "x"]
RAW_CHOICES = [[" Delaware", " the State of New York and nothing else", ""], [" y", " z a b c"],
               [" the", " Delaware law applies here", " no"], [" Governing Law"]]
CHAT = [[{"role": "user", "content": "Which clause type is this?"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Governing Law?"}]]
CHAT_CHOICES = [["Governing Law", "Not found", "No"], ["Yes", "No, it is the Notice clause"]]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    return model, tok


@pytest.fixture()
def tuned(tiny_model_dir):
    """A fresh copy wrapped in LoRA (the wrapping changes the model in place), adapter still zero."""
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"]))
    return model.eval(), tok


def perturb(model) -> None:
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)


@torch.no_grad()
def naive_logprob(model, ids: list[int], n_prompt: int) -> float:
    """Sum of log P(ids[k] | ids[:k]) for k >= n_prompt, from one full forward pass of one sequence."""
    logprobs = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
    return sum(logprobs[k - 1, ids[k]].item() for k in range(n_prompt, len(ids)))


def reference_ids(tok, prompt, choice: str) -> tuple[list[int], list[int]]:
    """(prompt ids, choice ids) as the Scorer protocol defines them, built independently of the engine."""
    if isinstance(prompt, str):
        p = tok(prompt)["input_ids"]
        joint = tok(prompt + choice)["input_ids"]
        c = joint[len(p):] if joint[:len(p)] == p else tok(choice, add_special_tokens=False)["input_ids"]
        return p, c
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    return prompt_ids(tok, prompt), tok(choice, add_special_tokens=False)["input_ids"] + [eot]


def assert_matches_naive(model, tok, prompts, choices, got) -> None:
    for prompt, options, scores in zip(prompts, choices, got):
        assert len(scores) == len(options)
        for choice, (logprob, n) in zip(options, scores):
            p, c = reference_ids(tok, prompt, choice)
            assert n == len(c)
            expected = naive_logprob(model, p + c, len(p)) if c else 0.0
            assert logprob == pytest.approx(expected, abs=1e-4), (prompt, choice)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_loglik_equals_one_sequence_at_a_time(tiny, batch_size):
    model, tok = tiny
    prompts, choices = RAW + CHAT, RAW_CHOICES + CHAT_CHOICES
    ticks = []
    got = ModelScorer(model, tok, "tiny", batch_size=batch_size).loglik(prompts, choices, progress=ticks.append)
    assert_matches_naive(model, tok, prompts, choices, got)
    assert sum(ticks) == len(prompts)
    assert got[0][2] == (0.0, 0)  # an empty raw choice adds no token
    # a chat choice is its tokens plus the end-of-turn token
    assert got[4][1][1] == len(tok("Not found", add_special_tokens=False)["input_ids"]) + 1


def test_loglik_shared_prefix_and_cache_copy_paths_agree(tiny):
    """Prompts with a long common prefix (run once) and the KV-cache-copy way give the naive numbers too."""
    model, tok = tiny
    prompts, choices = RAW[:2] * 2, RAW_CHOICES[:2] * 2
    scorer = ModelScorer(model, tok, "tiny", batch_size=2)
    assert scorer._shared_prefix([scorer._encode(p).ids for p in prompts]) is not None
    assert_matches_naive(model, tok, prompts, choices, scorer.loglik(prompts, choices))
    scorer._choices_side_by_side = False  # what a flash-attention model gets
    assert_matches_naive(model, tok, RAW + CHAT, RAW_CHOICES + CHAT_CHOICES,
                         scorer.loglik(RAW + CHAT, RAW_CHOICES + CHAT_CHOICES))


def test_choice_that_merges_with_the_prompt_is_tokenized_alone(tiny):
    model, tok = tiny
    prompt, choice = "Gov", "erning Law"
    p = tok(prompt)["input_ids"]
    assert tok(prompt + choice)["input_ids"][:len(p)] != p  # the joint tokenization crosses the boundary
    c = tok(choice, add_special_tokens=False)["input_ids"]
    [[(logprob, n)]] = ModelScorer(model, tok, "tiny").loglik([prompt], [[choice]])
    assert n == len(c)
    assert logprob == pytest.approx(naive_logprob(model, p + c, len(p)), abs=1e-4)


def test_truncation_keeps_the_end_of_the_prompt(tiny):
    model, tok = tiny
    scorer = ModelScorer(model, tok, "tiny", max_prompt_tokens=6)
    [[(logprob, n)]] = scorer.loglik([RAW[0]], [[" Delaware"]])
    p, c = reference_ids(tok, RAW[0], " Delaware")
    assert len(p) > 6 and scorer.truncated == 1 and n == len(c)
    assert logprob == pytest.approx(naive_logprob(model, p[-6:] + c, 6), abs=1e-4)
    scorer.loglik(["x"], [[" y"]])  # short enough: not counted
    assert scorer.truncated == 1


@torch.no_grad()
def hf_greedy(model, tok, prompt, max_new_tokens: int) -> list[int]:
    """Hugging Face generate on one unpadded prompt, cut before the first stop token."""
    ids = prompt_ids(tok, prompt) if isinstance(prompt, list) else tok(prompt)["input_ids"]
    stops = end_of_turn_ids(tok)
    out = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops,
                         pad_token_id=tok.pad_token_id)[0, len(ids):].tolist()
    return out[: next((k for k, t in enumerate(out) if t in stops), len(out))]


@pytest.mark.parametrize("prompts", [RAW + CHAT, [PREAMBLE + q for q in ("who?", "x", "The parties agree that")]],
                         ids=["mixed", "shared-prefix"])
def test_batched_generation_equals_one_at_a_time(tiny, prompts):
    model, tok = tiny
    # Make a token that some answers contain (and not all) the EOS, so rows stop at different steps.
    answers = [hf_greedy(model, tok, p, 8) for p in prompts]
    stopper = next(tok.convert_ids_to_tokens(t) for a in answers for t in a[1:]
                   if not all(t in b for b in answers))
    tok = AutoTokenizer.from_pretrained(tok.name_or_path, eos_token=stopper)
    ticks = []
    scorer = ModelScorer(model, tok, "tiny", generate_batch_size=4)
    batched = scorer.generate(prompts, 8, progress=ticks.append)
    single = [ModelScorer(model, tok, "tiny", generate_batch_size=1).generate([p], 8)[0] for p in prompts]
    assert sum(ticks) == len(prompts)
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.tokens for g in batched] == [g.tokens for g in single]
    assert any(g.tokens < 8 for g in batched) and any(g.tokens == 8 for g in batched)
    for prompt, g, s in zip(prompts, batched, single):
        answer = hf_greedy(model, tok, prompt, 8)
        assert g.tokens == len(answer)
        assert g.text == tok.decode(answer, skip_special_tokens=True).strip()
        p = prompt_ids(tok, prompt) if isinstance(prompt, list) else tok(prompt)["input_ids"]
        assert g.logprob == pytest.approx(naive_logprob(model, p + answer, len(p)), abs=1e-4)
        assert g.logprob == pytest.approx(s.logprob, abs=1e-4)


def test_generation_batches_keep_to_rows_and_token_budget(tiny):
    model, tok = tiny
    lengths = [30, 25, 20, 10, 10, 5]
    encoded = [engine._Encoded(list(range(n)), None, [], chat=False) for n in lengths]
    # rows x (longest prompt + new tokens) <= budget: (30+10) x 2 = 80 fits, x 3 = 120 does not
    scorer = ModelScorer(model, tok, "tiny", generate_batch_size=4, generate_token_budget=80)
    assert scorer._decode_batches(encoded, 10) == [[0, 1], [2, 3], [4, 5]]
    scorer = ModelScorer(model, tok, "tiny", generate_batch_size=4, generate_token_budget=10_000)
    assert scorer._decode_batches(encoded, 10) == [[0, 1, 2, 3], [4, 5]]
    scorer = ModelScorer(model, tok, "tiny", generate_batch_size=4, generate_token_budget=1)
    assert scorer._decode_batches(encoded, 10) == [[i] for i in range(6)]  # a row too long still runs alone
    with pytest.raises(ValueError, match="generate_batch_size"):
        ModelScorer(model, tok, "tiny", generate_batch_size=0)


def test_kl_is_zero_without_adapter(tiny):
    model, tok = tiny
    ticks = []
    assert ModelScorer(model, tok, "tiny").kl_from_base(CHAT, 5, progress=ticks.append) == [0.0, 0.0]
    assert ticks == [2]


def test_kl_zero_adapter_then_perturbed(tuned):
    model, tok = tuned
    scorer = ModelScorer(model, tok, "tuned", generate_batch_size=2)
    prompts = CHAT + RAW[2:3]
    assert all(abs(k) < 1e-6 for k in scorer.kl_from_base(prompts, 6))  # fresh LoRA: B = 0
    perturb(model)
    kls = scorer.kl_from_base(prompts, 6)
    assert all(k > 1e-3 for k in kls)
    # by hand: greedy continuation of the tuned model, then KL at each position that chose a token
    for prompt, kl in zip(prompts, kls):
        p = prompt_ids(tok, prompt) if isinstance(prompt, list) else tok(prompt)["input_ids"]
        ids = torch.tensor([p])
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=6,
                             do_sample=False, eos_token_id=end_of_turn_ids(tok), pad_token_id=tok.pad_token_id)
        full = out[:, :len(p) + 6]
        n = full.shape[1] - len(p)
        with torch.no_grad():
            t = torch.log_softmax(model(input_ids=full).logits[0, len(p) - 1: len(p) - 1 + n].float(), -1)
            with model.disable_adapter():
                b = torch.log_softmax(model(input_ids=full).logits[0, len(p) - 1: len(p) - 1 + n].float(), -1)
        assert kl == pytest.approx((t.exp() * (t - b)).sum(-1).mean().item(), abs=1e-4)


class CountingScorer:
    """A stand-in Scorer that records what it is asked."""

    key = "counting-v1"

    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def loglik(self, prompts, choices, progress=None):
        self.calls.append(("loglik", len(prompts)))
        return [[(-float(len(str(p)) + len(c)), len(c)) for c in cs] for p, cs in zip(prompts, choices)]

    def generate(self, prompts, max_new_tokens, progress=None):
        self.calls.append(("generate", len(prompts)))
        return [Generation(text=str(p)[:max_new_tokens], logprob=-1.5, tokens=max_new_tokens) for p in prompts]

    def kl_from_base(self, prompts, max_new_tokens, progress=None):
        self.calls.append(("kl_from_base", len(prompts)))
        return [0.25 * max_new_tokens for _ in prompts]


def test_cache_second_run_asks_nothing(tmp_path):
    inner = CountingScorer()
    path = tmp_path / "cache" / "results.sqlite"
    cached = CachedScorer(inner, path)
    first = (cached.loglik(RAW, RAW_CHOICES), cached.generate(CHAT, 4), cached.kl_from_base(CHAT, 4))
    assert inner.calls == [("loglik", 4), ("generate", 2), ("kl_from_base", 2)]
    inner.calls.clear()
    again = CachedScorer(inner, path)  # a new connection: the answers come from the file
    ticks = []
    second = (again.loglik(RAW, RAW_CHOICES, ticks.append), again.generate(CHAT, 4), again.kl_from_base(CHAT, 4))
    assert inner.calls == [] and second == first and ticks == [4]
    assert second[0][0][0] == (-float(len(RAW[0]) + len(" Delaware")), len(" Delaware"))
    # other max_new_tokens, other choices, another model key: misses
    again.generate(CHAT, 5)
    again.loglik(RAW[:1], [[" Delaware"]])
    assert inner.calls == [("generate", 2), ("loglik", 1)]
    inner.key = "counting-v2"
    CachedScorer(inner, path).kl_from_base(CHAT, 4)
    assert inner.calls[-1] == ("kl_from_base", 2)


def test_cache_sends_only_the_misses_in_one_call(tmp_path):
    inner = CountingScorer()
    cached = CachedScorer(inner, tmp_path / "r.sqlite")
    cached.generate(CHAT[:1], 4)
    ticks = []
    out = cached.generate([CHAT[0], CHAT[1], RAW[0], CHAT[1]], 4, progress=ticks.append)
    assert inner.calls == [("generate", 1), ("generate", 2)]  # CHAT[1] asked once although it repeats
    assert out[1] == out[3] and out[0].text == str(CHAT[0])[:4]
    assert (cached.hits, cached.misses) == (1, 3) and sum(ticks) == 2  # the inner scorer got no progress here


def test_cache_wraps_a_model_scorer(tiny, tmp_path):
    model, tok = tiny
    scorer = ModelScorer(model, tok, "tiny", max_prompt_tokens=6)
    cached = CachedScorer(scorer, tmp_path / "r.sqlite")
    first = cached.loglik(RAW[:2], RAW_CHOICES[:2])
    assert cached.loglik(RAW[:2], RAW_CHOICES[:2]) == first
    assert cached.truncated == 2  # read through from the model scorer: the second run never reached it
