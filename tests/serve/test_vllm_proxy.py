"""`lextune serve --engine vllm`: generation proxied to a (fake) vLLM server, resolution/trace/audit kept here."""

from __future__ import annotations

import openai
import pytest
from fake_vllm import fake_vllm

from lextune.core.records import ModelVersion
from lextune.registry.versions import activate, register_version
from lextune.serve.app import create_app
from lextune.serve.background import live_server
from lextune.serve.config import ServeConfig
from lextune.serve.trace import served_answers
from lextune.serve.vllm_proxy import VllmEngine

QUESTION = [{"role": "user", "content": "Which law governs?"}]


@pytest.fixture()
def proxied(store):
    for name in ("v-a", "v-missing"):
        register_version(store, ModelVersion(id=f"id-{name}", name=name, base_model="base", adapter_path="/x",
                                             dataset_id="ds", dataset_sha256="0" * 64, recipe={}))
    activate(store, "v-a", scope="tax")
    vllm = fake_vllm()
    with live_server(vllm) as fake:
        app = create_app(store, ServeConfig(), engine=VllmEngine(fake.base_url, store))
        with live_server(app) as server:
            yield openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0), vllm


def test_scope_alias_becomes_the_lora_module_and_the_trace_says_so(proxied, store):
    client, vllm = proxied
    r = client.chat.completions.create(model="tax", messages=QUESTION, max_tokens=7, temperature=0.3, stop=["\n"])
    assert r.choices[0].message.content == "answer from v-a in 7 tokens"
    sent = vllm.state.requests[-1]
    assert sent["model"] == "v-a" and sent["temperature"] == 0.3 and sent["stop"] == ["\n"]
    assert sent["messages"] == QUESTION
    trace = r.model_extra["lextune"]
    assert trace["model_version"] == "v-a" and trace["scope"] == "tax" and trace["fine_tuned"] is True
    assert r.usage.completion_tokens == 6  # vLLM's own count
    assert served_answers(store, version="v-a")[0]["request_id"] == r.id


def test_stream_and_stock_model_and_completions(proxied):
    client, vllm = proxied
    parts = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="stock", messages=QUESTION, max_tokens=3, stream=True) if c.choices]
    assert "".join(parts) == "answer from base-model in 3 tokens"
    assert vllm.state.requests[-1]["model"] == "base-model"
    c = client.completions.create(model="v-a", prompt="Governing law:", max_tokens=2)
    assert c.choices[0].text == "answer from v-a in 2 tokens" and vllm.state.requests[-1]["prompt"] == "Governing law:"


def test_a_version_vllm_does_not_serve_is_a_404_saying_how_to_add_it(proxied):
    client, _ = proxied
    with pytest.raises(openai.NotFoundError, match="--lora-modules v-missing="):
        client.chat.completions.create(model="v-missing", messages=QUESTION)
