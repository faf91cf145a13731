"""A real request through the app (tiny model) leaves the facts drift monitoring needs, and its question sealed."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from lextune.monitor.questions import log_dir, read_questions, week_of
from lextune.serve.app import create_app
from lextune.serve.background import live_server
from lextune.serve.config import ServeConfig
from lextune.serve.trace import served_answers

QUESTION = "Which law governs the supply agreement?"
FACTS = {"latency_ms", "input_tokens", "output_tokens", "input_chars", "output_chars", "grounded", "refused",
         "refusal_reason", "not_in_documents"}


@pytest.fixture()
def url(store, tiny_model_dir):
    app = create_app(store, ServeConfig(base_model=str(tiny_model_dir), batch_window_ms=5))
    with live_server(app) as server:
        yield server.base_url


def test_served_answers_record_sizes_latency_refusal_and_a_sealed_question(store, url):
    messages = [{"role": "user", "content": QUESTION}]
    with httpx.Client(base_url=url, timeout=60) as c:
        plain = c.post("/chat/completions", json={"model": "stock", "messages": messages, "max_tokens": 6}).json()
        c.post("/chat/completions", json={"model": "stock", "messages": messages, "max_tokens": 6,
                                          "stream": True}).read()
        # Grounded on an empty vault: nothing to answer from, refused without decoding ("not in the documents").
        refused = c.post("/chat/completions", json={"model": "stock", "messages": messages, "max_tokens": 6,
                                                    "lextune": {"retrieve": True, "mode": "bm25"}}).json()
        c.post("/completions", json={"model": "stock", "prompt": "The governing law is", "max_tokens": 4})
    assert refused["lextune"]["refused"] is True
    rows = {r["request_id"]: r for r in served_answers(store)}
    assert len(rows) == 4
    for r in rows.values():
        assert FACTS <= set(r), r
        assert r["latency_ms"] > 0 and r["input_tokens"] > 0
        assert QUESTION not in str(r)  # the audit row holds no client text
    first = rows[plain["id"]]
    assert first["input_chars"] == len(QUESTION) and first["output_tokens"] == plain["usage"]["completion_tokens"]
    assert first["output_chars"] == len(plain["choices"][0]["message"]["content"])
    assert first["refused"] is False and first["grounded"] is False
    grounded = rows[refused["id"]]
    assert grounded["grounded"] and grounded["refused"] and grounded["not_in_documents"]
    assert grounded["refusal_reason"] in ("no_passages", "low_confidence")
    assert rows[next(i for i in rows if i.startswith("cmpl-"))]["input_chars"] == len("The governing law is")
    # The questions: in the monitor's own log, sealed; they open with the store's key.
    weeks = sorted({week_of(datetime.now(UTC)), *(f.stem for f in log_dir(store).glob("*.log"))})
    log = "".join((log_dir(store) / f"{w}.log").read_text() for w in weeks)
    assert QUESTION not in log and log.count("\n") == 4
    questions, bad = read_questions(store, weeks)
    asked = [q for w in weeks for q in questions[w]]
    assert asked.count(QUESTION) == 3 and "The governing law is" in asked and bad == 0
