"""POST /v1/lextune/analyze on a bare FastAPI app with a fake engine (canned answers or the tiny model)."""

from __future__ import annotations

import threading

import pytest
from analysis_contracts import canned, contract
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lextune.review.policy import ReviewPolicy
from lextune.serve.config import ScopeConfig, ServeConfig
from lextune.serve.routes_analyze import router

TRACE = {"model_version": "v-canned", "fine_tuned": True, "scope": "default", "adapter": "id-canned"}


class CannedEngine:
    def __init__(self):
        self.calls: list[tuple[str, int, int, str]] = []

    def generate_sync(self, model, conversations, max_new_tokens, store=None):
        self.calls.append((model, len(conversations), max_new_tokens, threading.current_thread().name))
        if model == "missing":
            raise LookupError("no model 'missing'")
        return canned(conversations), dict(TRACE)


@pytest.fixture()
def client():
    app = FastAPI()
    app.include_router(router)
    app.state.engine = CannedEngine()
    # Review off: this bare app has no store (the queue is tested in tests/serve/test_review_producers.py).
    app.state.config = ServeConfig(scopes={"default": ScopeConfig(review=ReviewPolicy(tasks=[]))})
    with TestClient(app) as c:
        yield c, app


def test_text_is_analyzed_with_the_engine_trace(client):
    c, app = client
    text = contract(state="Delaware", notice="thirty (30) days")
    r = c.post("/v1/lextune/analyze", json={"text": text, "filename": "msa.txt"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lextune"].pop("request_id").startswith("analysis-")
    assert body["lextune"] == TRACE and body["model"] == "v-canned" and body["document"] == "msa.txt"
    assert all(text[cl["start"]:cl["end"]] == cl["text"] for cl in body["clauses"])
    rules = {f["rule"] for f in body["flags"]}
    assert {"governing_law", "renewal_notice_days"} <= rules and "required:Cap on Liability" not in rules
    calls = app.state.engine.calls
    assert [(m, t) for m, _, t, _ in calls] == [("active", 16), ("active", 256)]
    assert all(name != threading.current_thread().name for *_, name in calls)  # never on the caller's thread


def test_custom_playbook_model_and_html(client):
    c, app = client
    text = contract(extra="5. NOTE\n\n<script>alert(1)</script> appears here in a long enough paragraph.\n\n")
    r = c.post("/v1/lextune/analyze", json={
        "text": text, "model": "v-b", "verify": False, "format": "json+html",
        "playbook": {"name": "strict", "governing_law": {"allowed": ["Delaware"], "severity": "high"}}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["playbook"] == "strict"
    assert [f["message"] for f in body["flags"]] == ["governing law not Delaware: the contract chooses New York"]
    assert "&lt;script&gt;" in body["html"] and "<script>" not in body["html"]
    assert [m for m, *_ in app.state.engine.calls] == ["v-b"]


@pytest.mark.parametrize(("payload", "loc"), [
    ({"text": "x", "playbook": {"name": "p", "governing_law": {"alowed": ["NY"]}}},
     ["body", "playbook", "governing_law", "alowed"]),
    ({"text": "x", "playbook": {"name": "p", "required": ["Cap on Liabilty"]}},
     ["body", "playbook", "required", 0, "clause"]),
    ({"text": "x", "document_id": "d1"}, ["body", "text"]),
    ({}, ["body", "text"]),
    ({"text": "   "}, ["body", "text"]),
    ({"text": "x", "modle": "stock"}, ["body", "modle"]),
])
def test_bad_requests_name_the_field(client, payload, loc):
    c, app = client
    r = c.post("/v1/lextune/analyze", json=payload)
    assert r.status_code == 422, r.text
    assert loc in [d["loc"] for d in r.json()["detail"]]
    assert app.state.engine.calls == []


def test_unknown_clause_type_message_suggests(client):
    c, _ = client
    r = c.post("/v1/lextune/analyze", json={"text": "x", "playbook": {"name": "p", "forbidden": ["Non Compete"]}})
    assert "did you mean 'Non-Compete'" in r.json()["detail"][0]["msg"]


def test_vault_document_by_id(client, store, tmp_path):
    from lextune.vault.vault import Vault

    c, app = client
    app.state.store = store
    path = tmp_path / "supply.txt"
    path.write_text(contract())
    Vault(store, workers=1).ingest([path])
    doc = Vault(store).documents()[0]
    r = c.post("/v1/lextune/analyze", json={"document_id": doc.id})
    assert r.status_code == 200, r.text
    assert r.json()["document"] == doc.title and r.json()["sha256"] == doc.sha256
    missing = c.post("/v1/lextune/analyze", json={"document_id": "nope"})
    assert missing.status_code == 404 and missing.json()["detail"][0]["loc"] == ["body", "document_id"]


def test_engine_errors_propagate(client):
    c, _ = client
    with pytest.raises(LookupError, match="missing"):
        c.post("/v1/lextune/analyze", json={"text": contract(), "model": "missing"})


def test_tiny_model_engine_runs_end_to_end(tiny_model_dir, store):
    from lextune.models.generation import generate
    from lextune.models.loading import load_base_model

    model, tok, _ = load_base_model(str(tiny_model_dir))

    class TinyEngine:
        def generate_sync(self, name, conversations, max_new_tokens, store=None):
            return generate(model, tok, conversations, max_new_tokens=min(max_new_tokens, 8)), {"model_version": name}

    app = FastAPI()
    app.include_router(router)
    app.state.engine = TinyEngine()
    app.state.config, app.state.store = ServeConfig(), store  # the default review policy may queue
    with TestClient(app) as c:
        r = c.post("/v1/lextune/analyze", json={"text": contract(), "model": "stock"})
    assert r.status_code == 200, r.text
    trace = {k: v for k, v in r.json()["lextune"].items() if k not in ("request_id", "review")}
    assert trace == {"model_version": "stock"} and r.json()["passages"] >= 4
