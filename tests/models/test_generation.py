import torch

from lextune.models.chat import IGNORE_INDEX, encode_example
from lextune.models.generation import choice_logprobs, generate
from lextune.models.loading import load_base_model

PROMPT = [{"role": "user", "content": "The laws of Delaware govern. Which clause type is this?"}]
CHOICES = ["Governing Law", "Insurance", "Audit Rights and Records"]


def test_choice_logprobs_match_a_full_forward_pass(tiny_model_dir, home):
    model, tok, _ = load_base_model(str(tiny_model_dir))
    fast = choice_logprobs(model, tok, PROMPT, CHOICES)
    for choice, got in zip(CHOICES, fast):
        ex = encode_example(tok, PROMPT + [{"role": "assistant", "content": choice}], 512)
        ids, labels = ex.input_ids, ex.labels
        with torch.no_grad():
            logp = model(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)
        want = sum(logp[k - 1, ids[k]].item() for k in range(1, len(ids)) if labels[k] != IGNORE_INDEX)
        assert abs(got - want) < 1e-3


def test_batched_generation_matches_one_by_one(tiny_model_dir, home):
    model, tok, _ = load_base_model(str(tiny_model_dir))
    convs = [PROMPT, [{"role": "user", "content": "Short?"}], [{"role": "user", "content": "word " * 30}]]
    batched = generate(model, tok, convs, max_new_tokens=8, batch_size=3)
    single = [generate(model, tok, [c], max_new_tokens=8)[0] for c in convs]
    assert batched == single
