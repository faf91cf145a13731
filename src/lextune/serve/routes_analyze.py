"""`POST /v1/lextune/analyze`: contract analysis over HTTP, answered by the app's warm engine.

The pipeline is lextune.analysis's step generator; each model call it asks for goes to
`app.state.engine.generate_sync(model, conversations, max_new_tokens)` in the thread pool, and the engine's
trace (which version answered) is returned under `lextune`.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from lextune.analysis.analyze import AnalyzeOptions, analysis_steps
from lextune.analysis.html import render_html
from lextune.analysis.playbook import Playbook, default_playbook
from lextune.analysis.records import AnalysisError
from lextune.core.errors import LextuneError, NotFoundError
from lextune.serve.auth import need, tenant_store

router = APIRouter()
log = logging.getLogger(__name__)


class AnalyzeRequest(BaseModel):
    """One document (its text, or the id of a vault document) and how to review it."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="The document text; or give document_id.")
    document_id: str | None = Field(None, description="Id of a document already in the vault.")
    filename: str | None = Field(None, description="Name shown in the report (default: the vault title or "
                                                   "'document').")
    playbook: dict[str, Any] | None = Field(None, description="Playbook rules, as in the YAML file "
                                                              "(default: the shipped example).")
    model: str = Field("active", description="'active', 'stock', a scope's name or a version name or id.")
    clause_types: list[str] | None = Field(None, description="Types the model was trained on (default: "
                                                             "lextune's ten demo types).")
    verify: bool = Field(True, description="Ask the model to quote each clause it typed.")
    keyword_fallback: bool = Field(False, description="Fill types the model found nowhere from keywords.")
    summarize: bool = Field(False, description="Also ask the model for a short summary.")
    format: Literal["json", "json+html"] = Field("json", description="'json+html' adds the offline page as 'html'.")


def _invalid(loc: list[str | int], msg: str, kind: str = "value_error") -> HTTPException:
    return HTTPException(status_code=422, detail=[{"loc": ["body", *loc], "msg": msg, "type": kind}])


def _playbook(data: dict[str, Any] | None) -> Playbook:
    if data is None:
        return default_playbook()
    try:
        return Playbook.model_validate(data)
    except ValidationError as e:
        detail = [{"loc": ["body", "playbook", *err["loc"]],
                   "msg": "unknown key" if err["type"] == "extra_forbidden" else err["msg"], "type": err["type"]}
                  for err in e.errors()]
        raise HTTPException(status_code=422, detail=detail) from None


async def _document(request: Request, body: AnalyzeRequest) -> tuple[str, str]:
    """(name, text) from the body's text or its vault document id."""
    if (body.text is None) == (body.document_id is None):
        raise _invalid(["text"], "give exactly one of 'text' and 'document_id'")
    if body.text is not None:
        if not body.text.strip():
            raise _invalid(["text"], "the text is empty")
        return body.filename or "document", body.text

    def load() -> tuple[str, str]:
        from lextune.vault.vault import Vault

        vault = Vault(tenant_store(request))
        text = vault.document_text(body.document_id)
        title = next((d.title for d in vault.documents() if d.id == body.document_id), body.document_id)
        return body.filename or title, text

    try:
        return await run_in_threadpool(load)
    except NotFoundError as e:
        raise HTTPException(status_code=404, detail=[{"loc": ["body", "document_id"], "msg": str(e),
                                                      "type": "not_found"}]) from None


@router.post("/v1/lextune/analyze", dependencies=[Depends(need("query"))])
async def analyze(body: AnalyzeRequest, request: Request) -> dict[str, Any]:
    """Clauses by type with spans, playbook flags, summary and recommendations for one document."""
    name, text = await _document(request, body)
    playbook = _playbook(body.playbook)
    options = AnalyzeOptions(clause_types=body.clause_types, verify=body.verify,
                             keyword_fallback=body.keyword_fallback, summarize=body.summarize)
    engine = request.app.state.engine
    steps = analysis_steps(text, name, playbook, options, model=body.model)
    traces: list[dict[str, Any]] = []
    try:
        step = next(steps)
        while True:
            answers, trace = await run_in_threadpool(
                partial(engine.generate_sync, store=tenant_store(request)), body.model, step.conversations,
                step.max_new_tokens)
            traces.append(dict(trace or {}))
            step = steps.send(list(answers))
    except StopIteration as done:
        analysis = done.value
    except AnalysisError as e:
        raise _invalid(["text"], str(e)) from None
    request_id = f"analysis-{uuid.uuid4().hex}"
    trace = {**(traces[0] if traces else {"model_version": None, "note": "no passage needed the model"}),
             "request_id": request_id}
    analysis.model = str(trace.get("model_version") or body.model)
    analysis.trace = trace
    if len({t.get("model_version") for t in traces}) > 1:
        analysis.warnings.append("the model changed during the analysis (activated in between): "
                                 + ", ".join(sorted({str(t.get('model_version')) for t in traces})))
    queued = await _queue_for_review(request, analysis, trace, request_id, body.document_id)
    if queued:
        trace["review"] = queued
    out = analysis.model_dump(mode="json")
    out["lextune"] = trace
    if body.format == "json+html":
        out["html"] = render_html(analysis)
    return out


async def _queue_for_review(request: Request, analysis, trace: dict[str, Any], request_id: str,
                            document_id: str | None) -> dict[str, Any] | None:
    """Send the clauses and flags the scope's review policy picks to the review queue; what the trace says."""
    from lextune.review.candidates import enqueue
    from lextune.review.from_analysis import analysis_candidates

    scope = trace.get("scope")
    policy = request.app.state.config.scope(scope).review
    candidates = analysis_candidates(analysis, policy, request_id=request_id, matter=policy.matter or scope,
                                     model_version=trace.get("model_version"), document_id=document_id)
    if not candidates:
        return None
    try:
        ids = await run_in_threadpool(enqueue, tenant_store(request), candidates)
    except (SQLAlchemyError, LextuneError, ValueError) as e:  # the analysis is done: a queue failure must not lose it
        log.error("review queue: analysis %s not queued: %s", request_id, e)
        return {"error": "not queued"}
    return {"items": ids, "why": sorted({c.extra["why"] for c in candidates})}
