"""The answer-only loss goes through the model's forward; packed rows train as if each were alone."""

import itertools

import pytest
import torch
from peft import LoraConfig, get_peft_model
from test_local import _rows

from lextune.models.chat import IGNORE_INDEX
from lextune.models.loading import load_base_model
from lextune.train.batching import Encoded, collate, encode_rows, pack
from lextune.train.local import answer_loss
from lextune.train.packed_attention import use_packed_attention


@pytest.fixture()
def lora_model(tiny_model_dir):
    model, tok, _ = load_base_model(str(tiny_model_dir))
    torch.manual_seed(0)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    with torch.no_grad():  # a trained-looking adapter, so the LoRA path matters
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return peft, tok


def _examples(tok, n=4) -> list[Encoded]:
    rows = _rows(n)
    for k, r in enumerate(rows):  # different lengths and answers
        r.messages[0]["content"] += " filler" * (7 * k)
        r.messages[1]["content"] = ["Governing Law", "Insurance clause", "Not found", "Audit Rights"][k % 4]
    return encode_rows(tok, rows, 512).rows


def test_answer_loss_equals_the_models_own_loss_over_the_same_tokens(lora_model):
    model, tok = lora_model
    for e in _examples(tok):
        batch = collate([e], tok.pad_token_id)
        ours = answer_loss(model, batch)
        reference = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        assert ours.item() == pytest.approx(reference.item(), rel=1e-5)


def test_answer_loss_keeps_the_models_logit_soft_capping(lora_model):
    """A model whose forward post-processes logits (final soft-capping): the loss must see it too."""
    model, tok = lora_model
    base = model.get_base_model()
    original = base.forward

    def capped_forward(*args, **kwargs):  # what Gemma-2-style heads do after lm_head
        labels = kwargs.pop("labels", None)
        out = original(*args, **kwargs)
        out.logits = 3.0 * torch.tanh(out.logits / 3.0)
        if labels is not None:
            out.loss = torch.nn.functional.cross_entropy(
                out.logits[:, :-1].reshape(-1, out.logits.shape[-1]), labels[:, 1:].reshape(-1),
                ignore_index=IGNORE_INDEX)
        return out

    base.forward = capped_forward
    e = _examples(tok)[0]
    batch = collate([e], tok.pad_token_id)
    ours = answer_loss(model, batch)
    assert ours.item() == pytest.approx(model(input_ids=batch["input_ids"], labels=batch["labels"]).loss.item(),
                                        rel=1e-5)


@pytest.mark.parametrize("varlen", [True, False], ids=["per-example-attention", "transformers-mask"])
def test_packed_batch_gives_each_example_its_own_loss_and_gradient(lora_model, varlen):
    model, tok = lora_model
    examples = _examples(tok)
    alone, alone_grads = [], []
    for e in examples:
        model.zero_grad()
        loss = answer_loss(model, collate([e], tok.pad_token_id), reduction="sum")
        loss.backward()
        alone.append(loss.item())
        alone_grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    if varlen:
        assert use_packed_attention(model.get_base_model()) == "sdpa"
    model.zero_grad()
    batch = pack(examples)
    assert batch["input_ids"].shape[0] == 1 and batch["cu_seq_lens_q"].tolist()[-1] == batch["input_ids"].shape[1]
    # Per-example losses from the packed row's logits, at each example's answer positions.
    targets = batch["labels"][:, 1:]
    positions = (targets != IGNORE_INDEX).any(0).nonzero()[:, 0]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs, logits_to_keep=positions, use_cache=False).logits[0]
    token_losses = torch.nn.functional.cross_entropy(logits, targets[0, positions], reduction="none")
    edges = batch["cu_seq_lens_q"].tolist()
    packed = [token_losses[(positions >= s) & (positions < e)].sum().item() for s, e in itertools.pairwise(edges)]
    assert packed == pytest.approx(alone, rel=1e-4)
    token_losses.sum().backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(p.grad, sum(g[name] for g in alone_grads), rtol=1e-3, atol=1e-5)


def test_packing_drops_no_token_and_never_targets_across_examples(tiny_model_dir):
    _, tok, _ = load_base_model(str(tiny_model_dir))
    examples = _examples(tok)
    batch = pack(examples)
    assert batch["input_ids"][0].tolist() == [t for e in examples for t in e.input_ids]
    assert batch["position_ids"][0].tolist() == [p for e in examples for p in range(len(e.input_ids))]
    labels = batch["labels"][0].tolist()
    for start in batch["cu_seq_lens_q"].tolist()[:-1]:
        assert labels[start] == IGNORE_INDEX  # no example's first token is a target of the one before
    assert sum(t != IGNORE_INDEX for t in labels) == sum(e.answer_tokens for e in examples)
