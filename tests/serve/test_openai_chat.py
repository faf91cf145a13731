"""The service through the official `openai` client on a real uvicorn (tiny random models, two adapters)."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest
import torch

from lextune.core.records import ModelVersion
from lextune.models.generation import generate
from lextune.models.loading import load_base_model
from lextune.registry.versions import activate, register_version
from lextune.serve.app import create_app
from lextune.serve.background import live_server
from lextune.serve.config import ServeConfig
from lextune.serve.trace import served_answers

QUESTION = [{"role": "user", "content": "Which law governs the agreement?"}]


def _adapter(base_dir, folder, seed: int) -> None:
    """A LoRA adapter with random (non-zero) B matrices, so each version answers differently."""
    from peft import LoraConfig, get_peft_model

    model, _, _ = load_base_model(str(base_dir))
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    peft.save_pretrained(folder)


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    for name, seed in (("a", 1), ("b", 2)):
        _adapter(tiny_model_dir, root / name, seed)
    return root


def _register(store, base, adapters, name):
    return register_version(store, ModelVersion(
        id=f"id-{name}", name=f"v-{name}", base_model=str(base), adapter_path=str(adapters / name),
        dataset_id="ds", dataset_sha256="0" * 64, recipe={}))


@pytest.fixture()
def service(store, tiny_model_dir, adapters):
    a, b = (_register(store, tiny_model_dir, adapters, n) for n in ("a", "b"))
    activate(store, a.name)
    activate(store, b.name, scope="immigration/spousal")
    app = create_app(store, ServeConfig(base_model=str(tiny_model_dir), batch_window_ms=20))
    with live_server(app) as server:
        url = server.url
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)
        yield client, app, url


def _expected(tiny_model_dir, adapters, which: str | None, messages, max_new_tokens: int) -> str:
    """The same answer computed without the service: transformers' own greedy generate (which strips the
    text at both ends, as the service does not: compare stripped)."""
    from peft import PeftModel

    model, tok, _ = load_base_model(str(tiny_model_dir))
    if which:
        model = PeftModel.from_pretrained(model, str(adapters / which))
    return generate(model, tok, [messages], max_new_tokens=max_new_tokens)[0]


def test_models_lists_base_aliases_and_versions_with_parent_and_scope(service, tiny_model_dir):
    client, _, _ = service
    cards = {m.id: m for m in client.models.list().data}
    assert {"active", "immigration/spousal", "v-a", "v-b"} <= set(cards)
    assert cards["v-a"].model_extra["parent"] == str(tiny_model_dir)
    assert cards["v-a"].model_extra["lextune"]["scopes"] == ["default"]
    assert cards["immigration/spousal"].model_extra["lextune"]["resolves_to"] == "v-b"
    assert client.models.retrieve("v-b").id == "v-b"


def test_each_model_field_answers_with_its_own_adapter(service, tiny_model_dir, adapters):
    client, _, _ = service
    answers = {}
    for model, which in (("active", "a"), ("v-b", "b"), ("immigration/spousal", "b"), ("stock", None)):
        r = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=12)
        trace = r.model_extra["lextune"]
        assert trace["fine_tuned"] is (which is not None)
        assert trace["adapter"] == (f"id-{which}" if which else None)
        answers[model] = r.choices[0].message.content
        assert answers[model].strip() == _expected(tiny_model_dir, adapters, which, QUESTION, 12), model
    assert answers["active"] != answers["v-b"]  # the adapters really differ
    scoped = client.chat.completions.create(model="immigration/spousal", messages=QUESTION, max_tokens=4)
    assert scoped.model_extra["lextune"]["scope"] == "immigration/spousal"


def test_stream_gives_the_same_text_with_trace_and_usage(service):
    client, _, _ = service
    whole = client.chat.completions.create(model="active", messages=QUESTION, max_tokens=20)
    parts, last = [], None
    for chunk in client.chat.completions.create(model="active", messages=QUESTION, max_tokens=20, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            if chunk.choices[0].finish_reason:
                last = chunk
        else:
            usage = chunk.usage
    assert "".join(parts) == whole.choices[0].message.content
    assert last.model_extra["lextune"]["model_version"] == "v-a"
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_sampling_settings_are_honoured(service):
    client, _, _ = service
    long = client.chat.completions.create(model="stock", messages=QUESTION, max_tokens=30)
    assert long.usage.completion_tokens <= 30
    short = client.chat.completions.create(model="stock", messages=QUESTION, max_tokens=3)
    assert short.usage.completion_tokens == 3 and short.choices[0].finish_reason == "length"
    text = long.choices[0].message.content
    stop = text[len(text) // 2: len(text) // 2 + 2]
    if stop.strip():
        stopped = client.chat.completions.create(model="stock", messages=QUESTION, max_tokens=30, stop=[stop])
        assert stopped.choices[0].message.content == text[: text.find(stop)]
    sampled = [client.chat.completions.create(model="stock", messages=QUESTION, max_tokens=15, temperature=1.5,
                                              top_p=0.95, seed=s).choices[0].message.content for s in (7, 7, 8)]
    assert sampled[0] == sampled[1]  # a seed makes sampling repeatable
    assert sampled[0] != text or sampled[2] != text  # and sampling is not greedy decoding


def test_completions_batch_several_prompts(service):
    client, app, _ = service
    rounds = app.state.engine.rounds
    r = client.completions.create(model="active", prompt=["The governing law is", "Termination", "Notice"],
                                  max_tokens=5)
    assert [c.index for c in r.choices] == [0, 1, 2] and all(c.text for c in r.choices)
    assert app.state.engine.rounds == rounds + 1  # one decoding round for the three prompts


def test_embeddings_are_unit_minilm_vectors(service):
    client, _, _ = service
    r = client.embeddings.create(model="all-MiniLM-L6-v2", input=["governing law", "termination for cause"])
    vectors = [d.embedding for d in r.data]
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-3


def test_bad_requests_get_precise_errors(service):
    client, _, url = service
    with pytest.raises(openai.NotFoundError, match="v-a"):  # the message lists what exists
        client.chat.completions.create(model="nope", messages=QUESTION)
    with pytest.raises(openai.BadRequestError, match="over the model's context length of 1024"):
        client.chat.completions.create(model="stock", messages=[{"role": "user", "content": "law " * 900}],
                                       max_tokens=200)
    with pytest.raises(openai.UnprocessableEntityError, match="temperature"):
        client.chat.completions.create(model="stock", messages=QUESTION, temperature=5)
    bad = httpx.post(f"{url}/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 422 and "error" in bad.json()


def test_every_answer_is_audited_with_its_version(service, store):
    client, _, _ = service
    r = client.chat.completions.create(model="immigration/spousal", messages=QUESTION, max_tokens=3,
                                       user="associate@firm")
    rows = served_answers(store, version="v-b")
    assert rows[0]["request_id"] == r.id and rows[0]["user"] == "associate@firm"
    assert rows[0]["scope"] == "immigration/spousal" and rows[0]["adapter"] == "id-b"


def test_switching_the_active_version_under_load_never_mixes_models(service, store, tiny_model_dir, adapters):
    client, _, _ = service
    expected = {v: _expected(tiny_model_dir, adapters, v[-1], QUESTION, 8) for v in ("v-a", "v-b")}
    assert expected["v-a"] != expected["v-b"]
    results, errors = [], []

    def ask():
        for _ in range(6):
            try:
                r = client.chat.completions.create(model="active", messages=QUESTION, max_tokens=8)
                results.append((r.model_extra["lextune"]["model_version"], r.choices[0].message.content))
            except Exception as e:  # noqa: BLE001 - any failure fails the test below
                errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    flips = 0
    while any(t.is_alive() for t in threads):
        activate(store, "v-b" if flips % 2 == 0 else "v-a")
        flips += 1
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 24 and flips > 1
    assert {v for v, _ in results} == {"v-a", "v-b"}  # both served while switching
    for version, text in results:
        assert text.strip() == expected[version], version


def test_mixed_adapters_share_one_batch_and_lru_evicts(store, tiny_model_dir, adapters):
    for n in ("a", "b"):
        _register(store, tiny_model_dir, adapters, n)
    app = create_app(store, ServeConfig(base_model=str(tiny_model_dir), batch_window_ms=200, max_adapters=1))
    with live_server(app) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)
        results = {}

        def ask(model):
            results[model] = client.chat.completions.create(model=model, messages=QUESTION,
                                                            max_tokens=8).choices[0].message.content

        threads = [threading.Thread(target=ask, args=(m,)) for m in ("v-a", "v-b", "stock")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        engine = app.state.engine
        assert engine.rounds < 3  # at least two of the three were decoded together
        for model, which in (("v-a", "a"), ("v-b", "b"), ("stock", None)):
            assert results[model].strip() == _expected(tiny_model_dir, adapters, which, QUESTION, 8)
        ask("v-a")
        ask("v-b")
        assert engine.pool.evictions >= 1  # one adapter kept: the other left and came back
        assert results["v-b"].strip() == _expected(tiny_model_dir, adapters, "b", QUESTION, 8)


def test_a_client_that_hangs_up_mid_stream_frees_its_slot(service):
    client, app, url = service
    engine = app.state.engine
    # A prompt the tiny model answers at length (no early end-of-turn), so hanging up comes first.
    prompts = [[{"role": "user", "content": f"Clause {i}: notice"}] for i in range(12)]
    long = next(p for p in prompts if client.chat.completions.create(
        model="stock", messages=p, max_tokens=400).choices[0].finish_reason == "length")
    with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=60, json={
            "model": "stock", "messages": long, "max_tokens": 400, "stream": True}) as r:
        lines = r.iter_lines()
        next(lines), next(lines), next(lines)  # role chunk, blank line, first text
    for _ in range(200):
        if engine.cancelled_rows:
            break
        threading.Event().wait(0.05)
    assert engine.cancelled_rows == 1
    assert client.chat.completions.create(model="stock", messages=QUESTION, max_tokens=2).choices


def test_retrieval_is_asked_per_request_or_by_the_scope_config(store, tiny_model_dir, tmp_path):
    from lextune.serve.config import ScopeConfig
    from lextune.vault.vault import Vault

    (tmp_path / "supply.txt").write_text(
        "SUPPLY AGREEMENT\n\n1. Governing Law. This Agreement is governed by the laws of the State of New York.\n\n"
        "2. Term. This Agreement lasts three years from the Effective Date.\n")
    Vault(store).ingest([tmp_path / "supply.txt"])
    config = ServeConfig(base_model=str(tiny_model_dir),
                         scopes={"default": ScopeConfig(retrieve=True, k=2, mode="bm25")})
    app = create_app(store, config)
    question = [{"role": "user", "content": "Which law governs the supply agreement?"}]
    with live_server(app) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)
        scoped = client.chat.completions.create(model="active", messages=question, max_tokens=12)
        plain = client.chat.completions.create(model="stock", messages=question, max_tokens=12)
        asked = client.chat.completions.create(model="stock", messages=question, max_tokens=12,
                                               extra_body={"lextune": {"retrieve": True, "mode": "bm25"}})
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="active", messages=question, max_tokens=12, stream=True) if c.choices)
        with pytest.raises(openai.UnprocessableEntityError, match="lextune.retriev"):  # a typo is not ignored
            client.chat.completions.create(model="stock", messages=question, extra_body={"lextune": {"retriev": 1}})
        from typer.testing import CliRunner

        from lextune.cli import app as cli
        # `lextune ask --server`: the same question through the warm service.
        by_cli = CliRunner().invoke(cli, ["ask", "Which law governs the supply agreement?", "--server",
                                          server.base_url, "--mode", "bm25", "--k", "2"])
        assert by_cli.exit_code == 0, by_cli.output
        assert "retrieval: bm25" in by_cli.output and "answered by: stock:" in by_cli.output
        # Once an API key exists, the service wants it: `ask --server` passes --api-key (or LEXTUNE_API_KEY).
        from lextune.security import tenancy

        tenancy.add_user(store, "default", "lee", "viewer")
        _, key = tenancy.create_api_key(store, "default", "lee")
        time.sleep(2.5)  # the service re-checks "no key exists yet" every 2 s
        argv = ["ask", "Which law governs?", "--server", server.base_url, "--mode", "bm25", "--k", "1"]
        refused = CliRunner().invoke(cli, argv)
        assert refused.exit_code != 0 and "401" in str(refused.exception)
        assert CliRunner().invoke(cli, [*argv, "--api-key", key]).exit_code == 0
    trace = scoped.model_extra["lextune"]
    assert trace["retrieved"] and trace["retrieval"]["mode"] == "bm25"  # the default scope's config
    shown = trace["retrieval"]["passages"][0]
    text = (tmp_path / "supply.txt").read_text()
    assert "Governing Law" in text[shown["start"]:shown["end"]]  # the span of the text the model was shown
    # A random tiny model cannot cite: the verifier refuses rather than pass its words on.
    assert scoped.choices[0].message.content.startswith("The documents provided do not address this.")
    assert streamed == scoped.choices[0].message.content
    assert plain.model_extra["lextune"]["retrieved"] == []  # no scope config, not asked: no retrieval
    assert asked.model_extra["lextune"]["retrieved"]  # asked per request
