"""Stage-2 LLM scoring on a (fake) vLLM server: A/B/C next-token logprobs and drafted descriptions."""

from __future__ import annotations

from fastapi import FastAPI, Request

from lextune.privilege.llm import VllmLLM
from lextune.serve.background import live_server


def fake_vllm() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return {"data": [{"id": "base-model", "parent": None}]}

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await request.json()
        return {"choices": [{"index": i, "text": " C", "logprobs": {"top_logprobs": [
            {" A": -2.0, " B": -3.0, " C": -0.2}]}} for i, _ in enumerate(body["prompt"])]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return {"choices": [{"message": {"content": "Email to in-house counsel requesting legal advice."}}]}

    return app


def test_vllm_member_scores_and_describes(sample):
    docs = sample["test"][:3]
    with live_server(fake_vllm()) as fake:
        llm = VllmLLM(fake.base_url)
        p = llm.probs(docs)
        assert llm.model == "base-model" and p.shape == (3, 3) and (p.argmax(axis=1) == 2).all()
        assert abs(p.sum(axis=1) - 1).max() < 1e-6
        assert llm.describe(docs[:1], ["privileged"]) == ["Email to in-house counsel requesting legal advice."]
