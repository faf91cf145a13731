"""The decoding loop on its own: rows joining a running batch decode exactly as they would alone."""

from __future__ import annotations

from lextune.models.chat import end_of_turn_ids, prompt_ids
from lextune.models.generation import generate
from lextune.models.loading import load_base_model
from lextune.serve.decode import LiveBatch, Row, _safe_prefix

CONVS = [[{"role": "user", "content": text}] for text in (
    "Governing law?", "Which party may terminate this agreement for convenience, and on what notice?",
    "Notice", "Is there a cap on liability in the supply agreement between the parties?")]


def _batch(tok):
    stops = end_of_turn_ids(tok)
    return LiveBatch(stops, tok.pad_token_id, lambda ids: tok.decode(ids, skip_special_tokens=True))


def test_rows_joining_mid_decode_match_generating_each_alone(tiny_model_dir):
    model, tok, _ = load_base_model(str(tiny_model_dir))
    alone = [generate(model, tok, [c], max_new_tokens=24)[0] for c in CONVS]
    rows = [Row(prompt=prompt_ids(tok, c), max_new_tokens=24) for c in CONVS]
    batch = _batch(tok)
    batch.add(model, rows[:1])
    for _ in range(3):
        batch.step(model)
    batch.add(model, rows[1:3])  # a longer and a shorter prompt join a batch already 3 tokens in
    batch.step(model)
    batch.add(model, rows[3:])
    while len(batch):
        batch.step(model)
    assert [r.text.strip() for r in rows] == alone  # generate() strips the answer; the service does not
    assert all(r.finish_reason in ("stop", "length") for r in rows)


def test_stop_strings_cancellation_and_streaming(tiny_model_dir):
    model, tok, _ = load_base_model(str(tiny_model_dir))
    reference = Row(prompt=prompt_ids(tok, CONVS[1]), max_new_tokens=30)
    batch = _batch(tok)
    batch.add(model, [reference])
    while len(batch):
        batch.step(model)
    full = reference.text
    assert full.strip() == generate(model, tok, [CONVS[1]], max_new_tokens=30)[0]
    stop = full[len(full) // 2: len(full) // 2 + 3]
    streamed: list[str] = []
    row = Row(prompt=prompt_ids(tok, CONVS[1]), max_new_tokens=30, stop=[stop], on_text=streamed.append)
    hang_up = Row(prompt=prompt_ids(tok, CONVS[0]), max_new_tokens=30, cancelled=lambda: True)
    batch = _batch(tok)
    batch.add(model, [row, hang_up])
    while len(batch):
        batch.step(model)
    assert row.text == full[: full.find(stop)] and row.finish_reason == "stop"
    assert "".join(streamed) == row.text  # a partial stop string is never streamed
    assert hang_up.finish_reason == "cancelled" and hang_up.tokens == []


def test_safe_prefix_holds_back_partial_stops_and_split_characters():
    assert _safe_prefix("Governing la", ["law"]) == len("Governing ")
    assert _safe_prefix("abc\ufffd", []) == 3
    assert _safe_prefix("done", ["END"]) == 4
