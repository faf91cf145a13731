"""OpenAI-compatible inference routes: models, chat completions (streamed or not), completions, embeddings.

Every response carries `lextune: {model_version, fine_tuned, scope, adapter, retrieved, citations}`
and leaves an audit row. Retrieval runs only when the request asks for it
(`extra_body={"lextune": {"retrieve": true}}`) or the scope's configuration turns it on.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from lextune.core.errors import LextuneError, NotFoundError
from lextune.monitor.facts import answer_facts
from lextune.serve.auth import need, tenant_store
from lextune.serve.decode import Row
from lextune.serve.engine import Engine
from lextune.serve.openai_errors import APIError, OpenAIRoute
from lextune.serve.pool import Target, resolve
from lextune.serve.schemas import ChatRequest, CompletionRequest, EmbeddingRequest, LextuneOptions
from lextune.serve.trace import record_served

router = APIRouter(prefix="/v1", route_class=OpenAIRoute)
log = logging.getLogger(__name__)
EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def _now() -> int:
    return int(time.time())


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


async def _resolve(request: Request, model: str, user: str | None = None) -> Target:
    """The request's target; a canary's arm is chosen per user (the body's `user`, else the API key's user),
    so one person always meets the same model while a canary runs."""
    st = request.app.state
    principal = getattr(request.state, "principal", None)
    key = user or (f"{principal.tenant}/{principal.user}" if principal and principal.key_id else None)
    return await run_in_threadpool(partial(resolve, key=key), tenant_store(request), model, st.config.base_model)


async def _audit(request: Request, request_id: str, route: str, trace: dict, user: str | None,
                 facts: dict | None = None, question: str | None = None) -> None:
    client = request.client.host if request.client else None
    await run_in_threadpool(partial(record_served, facts=facts, question=question), tenant_store(request),
                            request_id, route, trace, client, user)


def _question(body: ChatRequest) -> str:
    """The last user message: what the monitor's input length and topic mixture are about."""
    users = [m["content"] for m in (m.as_chat() for m in body.messages) if m["role"] == "user"]
    return users[-1] if users and isinstance(users[-1], str) else ""


# ---------------------------------------------------------------------------- models


@router.get("/models", dependencies=[Depends(need("read"))])
async def list_models(request: Request) -> dict:
    from lextune.serve.model_cards import model_cards

    st = request.app.state
    return {"object": "list", "data": await run_in_threadpool(model_cards, tenant_store(request), st.config.base_model)}


@router.get("/models/{model_id:path}", dependencies=[Depends(need("read"))])
async def get_model(model_id: str, request: Request) -> dict:
    from lextune.serve.model_cards import model_cards

    st = request.app.state
    for card in await run_in_threadpool(model_cards, tenant_store(request), st.config.base_model):
        if card["id"] == model_id:
            return card
    await _resolve(request, model_id)  # raises the 404 that lists what exists
    raise NotFoundError(f"no model '{model_id}'")


# ---------------------------------------------------------------------------- chat


class _Grounding:
    """Retrieval for one request, and the verification of its answer."""

    def __init__(self, retrieval):
        self.retrieval = retrieval
        self.answer = None  # the verified answer, once finished

    @staticmethod
    def question(messages: list[dict[str, str]]) -> str:
        users = [m["content"] for m in messages if m["role"] == "user"]
        if not users:
            raise LextuneError("retrieval needs a user message to answer")
        return users[-1]

    def finish(self, raw: str) -> tuple[str, dict]:
        from lextune.rag.grounding import verify_answer

        answer = self.answer = verify_answer(raw, self.retrieval)
        trace = {"retrieved": [p.chunk_id for p in self.retrieval.passages],
                 "citations": [c.model_dump() for c in answer.citations],
                 "refused": answer.refused, "refusal_reason": answer.reason,
                 # What the model said before verification, whenever the verifier changed it (for review).
                 "model_text": raw if answer.text != raw else None,
                 "retrieval": {"mode": self.retrieval.mode, "confidence": self.retrieval.confidence,
                               "passages": [p.model_dump(exclude={"text"}) for p in self.retrieval.passages]}}
        return answer.text, trace


def _queue_for_review(store, config, target: Target, grounding: _Grounding | None, request_id: str) -> dict | None:
    """Send a cited answer to the review queue when its scope's policy says so; what the trace reports."""
    from lextune.review.candidates import enqueue
    from lextune.review.from_answers import cited_answer_candidate

    if grounding is None or grounding.answer is None or not grounding.retrieval.passages:
        return None
    policy = config.scope(target.scope).review
    trace = target.trace()
    candidate = cited_answer_candidate(
        grounding.retrieval.question, grounding.retrieval, grounding.answer, key=request_id,
        model_version=trace.get("model_version"), matter=policy.matter or target.scope, request_id=request_id)
    why = policy.why("cited_answer", candidate.confidence, request_id)
    if why is None:
        return None
    candidate.extra["why"] = why
    return {"item": enqueue(store, [candidate])[0], "why": why}


async def _review(request: Request, target: Target, grounding: _Grounding | None, request_id: str) -> dict:
    """{"review": {...}} for the trace when the answer was queued for review, else {}."""
    try:
        queued = await run_in_threadpool(_queue_for_review, tenant_store(request), request.app.state.config, target,
                                         grounding, request_id)
    except (SQLAlchemyError, LextuneError, ValueError) as e:  # the answer is verified and audited: a queue failure must not lose it
        log.error("review queue: answer %s not queued: %s", request_id, e)
        return {"review": {"error": "not queued"}}
    return {"review": queued} if queued else {}


def _check_documents(store, ids: list[str]) -> None:
    """Documents named by the request must be this tenant's: else 404, as for ids that never existed."""
    from sqlalchemy import select

    from lextune.core.tables import DocumentRow

    with store.session() as s:
        found = set(s.scalars(select(DocumentRow.id).where(DocumentRow.id.in_(ids))))
    if missing := [i for i in ids if i not in found]:
        raise APIError(404, f"no document {missing[0]!r} in the vault", param="lextune.documents",
                       code="document_not_found")


async def _prepare_chat(body: ChatRequest, request: Request):
    st = request.app.state
    engine: Engine = st.engine
    target = await _resolve(request, body.model, body.user)
    opts = body.lextune or LextuneOptions()
    scope_cfg = st.config.scope(target.scope)
    retrieve = opts.retrieve if opts.retrieve is not None else scope_cfg.retrieve
    messages = [m.as_chat() for m in body.messages]
    grounding = None
    if retrieve:
        from lextune.rag.grounding import grounded_messages
        from lextune.rag.grounding import retrieve as rag_retrieve

        question = _Grounding.question(messages)
        if opts.documents:
            await run_in_threadpool(_check_documents, tenant_store(request), opts.documents)
        retrieval = await run_in_threadpool(partial(rag_retrieve, document_ids=opts.documents), tenant_store(request), question,
                                            opts.k or scope_cfg.k, opts.mode or scope_cfg.mode)
        grounding = _Grounding(retrieval)
        messages = grounded_messages(question, retrieval.passages)
    prompt = await run_in_threadpool(engine.encode_chat, target, messages)
    await run_in_threadpool(engine.check_fits, target, prompt, body.max_new_tokens)
    row = Row(prompt=prompt, max_new_tokens=body.max_new_tokens, temperature=body.temperature,
              top_p=body.top_p, stop=body.stops, seed=body.seed)
    return target, row, grounding


async def _generate(engine: Engine, target: Target, row: Row, grounding: _Grounding | None, on_text=None):
    """Decode (unless retrieval found nothing to answer from); the final text and the trace."""
    if grounding is not None and not grounding.retrieval.confident:
        row.finish_reason = "stop"  # nothing to ground an answer on: refuse without asking the model
        text, extra = grounding.finish("")
        return text, extra
    row = await engine.run(target, row, on_text=None if grounding else on_text)
    if grounding is None:
        return row.text, {"retrieved": [], "citations": []}
    return grounding.finish(row.text)


@router.post("/chat/completions", dependencies=[Depends(need("query"))])
async def chat_completions(body: ChatRequest, request: Request):
    started = time.perf_counter()
    engine: Engine = request.app.state.engine
    target, row, grounding = await _prepare_chat(body, request)
    request_id = f"chatcmpl-{uuid.uuid4().hex}"
    if body.stream:
        return StreamingResponse(_chat_stream(body, request, target, row, grounding, request_id, started),
                                 media_type="text/event-stream")
    text, extra = await _generate(engine, target, row, grounding)
    trace = {**target.trace(), **extra, "request_id": request_id,
             **await _review(request, target, grounding, request_id)}
    question = _question(body)
    await _audit(request, request_id, "chat.completions", trace, body.user,
                 answer_facts(started, question, text, row.usage(), extra), question)
    return {"id": request_id, "object": "chat.completion", "created": _now(), "model": target.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": _finish(row), "logprobs": None}],
            "usage": row.usage(), "lextune": trace}


def _finish(row: Row) -> str:
    return "length" if row.finish_reason == "length" else "stop"


async def _chat_stream(body: ChatRequest, request: Request, target: Target, row: Row,
                       grounding: _Grounding | None, request_id: str, started: float) -> AsyncIterator[str]:
    engine: Engine = request.app.state.engine
    created = _now()

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        return _sse({"id": request_id, "object": "chat.completion.chunk", "created": created,
                     "model": target.name, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                                        "logprobs": None}], **extra})

    deltas: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.ensure_future(_generate(engine, target, row, grounding, on_text=deltas.put_nowait))
    try:
        yield chunk({"role": "assistant", "content": ""})
        while not task.done():
            getter = asyncio.ensure_future(deltas.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield chunk({"content": getter.result()})
            else:
                getter.cancel()
        while not deltas.empty():
            yield chunk({"content": deltas.get_nowait()})
        try:
            text, extra = task.result()
        except LextuneError as e:
            yield _sse({"error": {"message": str(e), "type": "server_error", "param": None, "code": None}})
            return
        if grounding is not None:  # a verified answer is sent whole, once checked
            yield chunk({"content": text})
        trace = {**target.trace(), **extra, "request_id": request_id,
                 **await _review(request, target, grounding, request_id)}
        yield chunk({}, _finish(row), lextune=trace)
        if body.stream_options and body.stream_options.include_usage:
            yield _sse({"id": request_id, "object": "chat.completion.chunk", "created": created,
                        "model": target.name, "choices": [], "usage": row.usage()})
        yield _sse("[DONE]")
        question = _question(body)
        await _audit(request, request_id, "chat.completions", trace, body.user,
                     answer_facts(started, question, text, row.usage(), extra), question)
    finally:
        if not task.done():  # the client went away: the engine drops the row at its next token
            task.cancel()


# ---------------------------------------------------------------------------- completions


@router.post("/completions", dependencies=[Depends(need("query"))])
async def completions(body: CompletionRequest, request: Request):
    started = time.perf_counter()
    engine: Engine = request.app.state.engine
    if body.stream and len(body.prompts) != 1:
        raise LextuneError("stream takes one prompt per request")
    target = await _resolve(request, body.model, body.user)
    rows = []
    for p in body.prompts:
        ids = await run_in_threadpool(engine.encode_text, target, p)
        await run_in_threadpool(engine.check_fits, target, ids, body.max_tokens)
        rows.append(Row(prompt=ids, max_new_tokens=body.max_tokens, temperature=body.temperature,
                        top_p=body.top_p, stop=body.stops, seed=body.seed))
    request_id = f"cmpl-{uuid.uuid4().hex}"
    trace = {**target.trace(), "retrieved": [], "citations": [], "request_id": request_id}
    if body.stream:
        return StreamingResponse(_completion_stream(body, request, target, rows[0], request_id, trace, started),
                                 media_type="text/event-stream")
    await asyncio.gather(*(engine.run(target, r) for r in rows))  # one batch on the worker
    await _audit(request, request_id, "completions", trace, body.user, *_completion_facts(started, body, rows))
    return {"id": request_id, "object": "text_completion", "created": _now(), "model": target.name,
            "choices": [{"index": i, "text": r.text, "finish_reason": _finish(r), "logprobs": None}
                        for i, r in enumerate(rows)],
            "usage": {k: sum(r.usage()[k] for r in rows) for k in ("prompt_tokens", "completion_tokens",
                                                                    "total_tokens")},
            "lextune": trace}


def _completion_facts(started: float, body: CompletionRequest, rows: list[Row]) -> tuple[dict, str]:
    """Facts over all the prompts of one request (tokens and chars summed); the first prompt as its question."""
    prompts = [p if isinstance(p, str) else "" for p in body.prompts]
    usage = {k: sum(r.usage()[k] for r in rows) for k in ("prompt_tokens", "completion_tokens")}
    facts = answer_facts(started, "".join(prompts), "".join(r.text for r in rows), usage)
    return facts, prompts[0] if prompts else ""


async def _completion_stream(body, request, target, row, request_id, trace, started) -> AsyncIterator[str]:
    engine: Engine = request.app.state.engine
    created = _now()

    def chunk(text: str, finish: str | None = None, **extra) -> str:
        return _sse({"id": request_id, "object": "text_completion", "created": created, "model": target.name,
                     "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}], **extra})

    deltas: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.ensure_future(engine.run(target, row, on_text=deltas.put_nowait))
    try:
        while not task.done():
            getter = asyncio.ensure_future(deltas.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield chunk(getter.result())
            else:
                getter.cancel()
        while not deltas.empty():
            yield chunk(deltas.get_nowait())
        task.result()
        yield chunk("", _finish(row), lextune=trace)
        yield _sse("[DONE]")
        await _audit(request, request_id, "completions", trace, body.user, *_completion_facts(started, body, [row]))
    finally:
        if not task.done():
            task.cancel()


# ---------------------------------------------------------------------------- embeddings


@router.post("/embeddings", dependencies=[Depends(need("query"))])
async def embeddings(body: EmbeddingRequest, request: Request):
    from lextune.serve.embedding import embed_texts

    if body.model not in (EMBEDDING_MODEL, EMBEDDING_MODEL.lower(), "minilm", "default"):
        raise NotFoundError(f"no embedding model '{body.model}'; served here: {EMBEDDING_MODEL}")
    if body.dimensions not in (None, 384):
        raise LextuneError(f"{EMBEDDING_MODEL} has 384 dimensions; got dimensions={body.dimensions}")
    vectors, tokens = await run_in_threadpool(embed_texts, body.texts)
    data = []
    for i, v in enumerate(vectors):
        vec = np.asarray(v, dtype=np.float32)
        value = base64.b64encode(vec.tobytes()).decode() if body.encoding_format == "base64" else vec.tolist()
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {"object": "list", "model": EMBEDDING_MODEL, "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
