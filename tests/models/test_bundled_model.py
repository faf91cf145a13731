"""The real bundled model (SmolLM2-135M-Instruct GGUF): loads, caches, answers, stops at end-of-turn."""

import pytest

from lextune.core.records import DatasetRow
from lextune.models.chat import end_of_turn_ids
from lextune.models.generation import generate
from lextune.models.loading import base_model_dir, load_base_model
from lextune.train.local import train_lora
from lextune.train.recipe import Recipe

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "Reply with one word: what is the capital of France?"}]


def test_bundled_model_generates_and_stops_before_and_after_tuning(home):
    model, tok, resolved = load_base_model(None)
    assert resolved.name == "smollm2-135m-instruct"
    _, cache = base_model_dir(None)
    assert (cache / "model.safetensors").is_file()  # de-quantized once, cached under LEXTUNE_HOME

    eot = end_of_turn_ids(tok)
    assert tok.convert_tokens_to_ids("<|im_end|>") in eot
    answer = generate(model, tok, [QUESTION], max_new_tokens=48)[0]
    assert "Paris" in answer
    n_tokens = len(tok(answer, add_special_tokens=False)["input_ids"])
    assert n_tokens < 40, answer  # stopped at <|im_end|>, not at the token limit
    assert "<|im" not in answer

    rows = [DatasetRow(id=f"r{i}", task="clause_type", split="train", document_id="d", answer="Governing Law",
                       messages=[{"role": "user", "content": f"Clause {i}: governed by the laws of Delaware. Type?"},
                                 {"role": "assistant", "content": "Governing Law"}]) for i in range(8)]
    tuned, result = train_lora(model, tok, rows, Recipe(max_steps=2, batch_size=4, learning_rate=1e-3))
    assert result.steps == 2
    after = generate(tuned, tok, [rows[0].messages[:-1]], max_new_tokens=48)[0]
    assert len(tok(after, add_special_tokens=False)["input_ids"]) < 40, after
    assert "<|im" not in after


def test_second_load_uses_the_cache(home, monkeypatch):
    load_base_model(None)

    def no_second_conversion(*_args):
        raise AssertionError("the GGUF was converted again")

    monkeypatch.setattr("lextune.models.loading._convert_gguf", no_second_conversion)
    _, cache = base_model_dir(None)
    assert (cache / "config.json").is_file()
    load_base_model(None)
