import pytest

from lextune.core.errors import DatasetError
from lextune.core.records import DatasetInfo, DatasetRow
from lextune.models.chat import end_of_turn_ids
from lextune.models.generation import generate
from lextune.models.loading import load_base_model
from lextune.train.jobs import run_training
from lextune.train.local import train_lora
from lextune.train.recipe import Recipe


def _rows(n: int) -> list[DatasetRow]:
    labels = ["Governing Law", "Insurance"]
    return [DatasetRow(
        id=f"r{i}", task="clause_type", split="train", document_id="d", answer=labels[i % 2],
        messages=[{"role": "user", "content": f"Passage {i}: the laws of Delaware apply. Type?"},
                  {"role": "assistant", "content": labels[i % 2]}]) for i in range(n)]


def test_loss_goes_down_and_generation_stops_at_end_of_turn(tiny_model_dir, home):
    model, tok, _ = load_base_model(str(tiny_model_dir))
    rows = [r.model_copy(update={"answer": "Governing Law", "messages": [
        r.messages[0], {"role": "assistant", "content": "Governing Law"}]}) for r in _rows(16)]
    recipe = Recipe(base_model=str(tiny_model_dir), epochs=12, batch_size=8, learning_rate=3e-2,
                    warmup_ratio=0.0)
    peft_model, result = train_lora(model, tok, rows, recipe)
    losses = [loss for _, loss in result.loss_curve]
    assert result.steps == 24 and losses[-1] < losses[0] * 0.3
    out = generate(peft_model, tok, [rows[0].messages[:-1]], max_new_tokens=20)[0]
    assert out == "Governing Law"  # stopped at <|im_end|>: nothing after the answer
    assert tok.convert_tokens_to_ids("<|im_end|>") in end_of_turn_ids(tok)


def test_training_is_deterministic(tiny_model_dir, home):
    recipe = Recipe(base_model=str(tiny_model_dir), max_steps=3, batch_size=4)
    curves = []
    for _ in range(2):
        model, tok, _ = load_base_model(str(tiny_model_dir))
        curves.append(train_lora(model, tok, _rows(12), recipe)[1].loss_curve)
    assert curves[0] == curves[1]


def test_too_few_rows_refuses_before_loading_a_model(store, tmp_path):
    (tmp_path / "train.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in _rows(9)))
    info = DatasetInfo(id="ds-small", name="small", path=str(tmp_path), sha256="0" * 64, counts={},
                       clause_types=[])
    with pytest.raises(DatasetError, match="has 9 training rows; at least 10"):
        run_training(store, info, Recipe(base_model="/nonexistent"))


def test_micro_batches_respect_the_token_budget_and_keep_every_row():
    from lextune.train.local import micro_batches

    lengths = [300, 100, 120, 290, 50, 310, 80, 200]
    parts = micro_batches(list(range(8)), lengths, max_tokens=620)
    assert sorted(i for p in parts for i in p) == list(range(8))
    assert all(max(lengths[i] for i in p) * len(p) <= 620 for p in parts)
    assert micro_batches([0], [900], max_tokens=100) == [[0]]  # a long row still trains, alone


def test_micro_batching_gives_the_same_loss_as_one_pass(tiny_model_dir, home):
    curves = []
    for budget in (10_000, 64):
        model, tok, _ = load_base_model(str(tiny_model_dir))
        recipe = Recipe(base_model=str(tiny_model_dir), max_steps=3, batch_size=6, micro_batch_tokens=budget)
        curves.append([loss for _, loss in train_lora(model, tok, _rows(12), recipe)[1].loss_curve])
    assert curves[0] == pytest.approx(curves[1], rel=1e-4)


def test_rows_too_long_for_max_seq_len_are_left_out_and_reported(tiny_model_dir, home):
    model, tok, _ = load_base_model(str(tiny_model_dir))
    rows = _rows(10)
    rows[3] = rows[3].model_copy(update={"messages": [rows[3].messages[0],
                                                      {"role": "assistant", "content": "clause " * 200}]})
    _, result = train_lora(model, tok, rows, Recipe(base_model=str(tiny_model_dir), max_steps=1,
                                                    max_seq_len=64))
    assert result.skipped_rows == ["r3"]


def test_two_runs_with_different_precision_in_one_process(tiny_model_dir, home):
    """A service runs jobs one after another: Accelerate's global precision must not refuse the second."""
    for precision in ("bf16", "fp32"):
        model, tok, _ = load_base_model(str(tiny_model_dir))
        _, result = train_lora(model, tok, _rows(8), Recipe(base_model=str(tiny_model_dir), max_steps=1,
                                                             batch_size=4, precision=precision))
        assert result.steps == 1
