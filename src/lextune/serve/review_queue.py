"""The review queue (`/review`), one item with its source passage and cited span (`/review/items/{id}`), and
Accept / Correct / Reject (`POST /review/items/{id}/decide`), each decision with its audit row.

Viewers may look; reviewers and above decide. Each principal sees only its tenant's store, so another
tenant's item id answers 404 like one that never existed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from lextune.core import audit
from lextune.core.records import utcnow
from lextune.core.store import Store
from lextune.core.tables_review import REVIEW_STATES, REVIEW_TASKS, ReviewItemRow
from lextune.serve.openai_errors import APIError
from lextune.serve.review_auth import Viewer, check_csrf, viewer_for, wants_html
from lextune.serve.review_filters import SORTS, Filters, fmt, url
from lextune.serve.review_pages import ITEM_JS, QUEUE_JS, confidence, e, highlighted, page, pill, when

router = APIRouter(prefix="/review", tags=["review"], include_in_schema=False)

QUEUE_LIMIT = 200
MAX_CORRECTION_CHARS = 20_000
DECISIONS = {"accept": "accepted", "correct": "corrected", "reject": "rejected"}
QUEUED_BECAUSE = {"low_confidence": "low confidence (below the scope's threshold)", "sampled": "sampled (the scope's share)"}

Reader = Annotated[Viewer, Depends(viewer_for("read"))]
Reviewer = Annotated[Viewer, Depends(viewer_for("review"))]


def _store(request: Request) -> Store:
    return request.state.store


def _not_found(request: Request, viewer: Viewer, item_id: str) -> Response:
    if wants_html(request):
        return page("Not found", f'<div class="card"><h1>No such review item</h1><p class="muted">{e(item_id)}</p>'
                    '<p><a href="/review">Back to the queue</a></p></div>', viewer, status=404)
    raise APIError(404, f"No such review item: {item_id}", param="item_id", code="review_item_not_found")


# ---------------------------------------------------------------- the queue

def _preview(output: dict | None, href: str, limit: int = 140) -> str:
    output = output or {}
    label = output.get("label")
    text = output.get("text")
    if text is None and label is None:
        text = ", ".join(f"{k}: {v}" for k, v in output.items())
    text = "" if text is None else str(text)
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return ((f'<span class="pill">{e(label)}</span> ' if label is not None else "")
            + f'<a href="{e(href)}">{e(text) or "(open)"}</a>')


def _queue_data(store: Store, filters: Filters) -> tuple[list[ReviewItemRow], int, list[str], dict[str, int]]:
    with store.session() as s:
        rows = list(s.scalars(filters.statement().limit(QUEUE_LIMIT)))
        total = s.scalar(select(func.count()).select_from(filters.statement(ReviewItemRow.id).order_by(None)
                                                          .subquery()))
        matters = [m for m in s.scalars(select(ReviewItemRow.matter).distinct().order_by(ReviewItemRow.matter))
                   if m]
        counts = dict(s.execute(select(ReviewItemRow.status, func.count()).group_by(ReviewItemRow.status)).all())
        s.expunge_all()
    return rows, int(total or 0), matters, counts


@router.get("")
async def queue(request: Request, viewer: Reader) -> Response:
    filters = Filters.parse(request.query_params)
    rows, total, matters, counts = await run_in_threadpool(_queue_data, _store(request), filters)

    def option(value: str, label: str, current: str) -> str:
        return f'<option value="{e(value)}"{" selected" if value == current else ""}>{e(label)}</option>'

    form = ('<form class="filters card" method="get" action="/review">'
            '<label>Status<select name="status">' + "".join(
                option(s, f"{s} ({counts.get(s, 0)})" if s != "all" else "all", filters.status)
                for s in (*REVIEW_STATES, "all")) + "</select></label>"
            '<label>Task<select name="task">' + option("", "any task", filters.task)
            + "".join(option(t, t.replace("_", " "), filters.task) for t in REVIEW_TASKS) + "</select></label>"
            '<label>Matter<select name="matter">' + option("", "any matter", filters.matter)
            + "".join(option(m, m, filters.matter) for m in matters) + "</select></label>"
            f'<label>Confidence from %<input name="min_conf" type="number" min="0" max="100" step="1" size="4" '
            f'value="{e(fmt(filters.min_conf))}"></label>'
            f'<label>to %<input name="max_conf" type="number" min="0" max="100" step="1" size="4" '
            f'value="{e(fmt(filters.max_conf))}"></label>'
            '<label>Order<select name="sort">' + "".join(option(k, v, filters.sort) for k, v in SORTS.items())
            + '</select></label><button class="btn-primary" type="submit">Filter</button>'
            '<a class="small" href="/review">reset</a></form>')
    q = filters.query()
    suffix = f"?{q}" if q else ""
    body_rows = "".join(
        f'<tr class="row" data-href="/review/items/{e(r.id)}{e(suffix)}" data-id="{e(r.id)}">'
        f'<td class="small muted">{when(r.created_at)}</td><td>{e(r.task.replace("_", " "))}</td>'
        f'<td>{e(r.matter or "—")}</td><td>{confidence(r.confidence)}</td>'
        f'<td>{_preview(r.output, f"/review/items/{quote(r.id)}{suffix}")}</td>'
        f'<td>{pill(r.status)}</td><td class="small muted nowrap">{e(r.model_version or "")}</td></tr>' for r in rows)
    table = ('<table><thead><tr><th>Created</th><th>Task</th><th>Matter</th><th>Confidence</th><th>Model output</th>'
             f'<th>Status</th><th>Model</th></tr></thead><tbody>{body_rows}</tbody></table>' if rows else
             '<div class="card muted">Nothing waits for review with these filters.</div>')
    shown = f"{len(rows)} of {total}" if total > len(rows) else f"{total}"
    body = (f'<h1>Review queue <span class="muted small">{shown} item{"s" if total != 1 else ""}</span></h1>{form}'
            f'{table}<p class="hint"><kbd>j</kbd>/<kbd>k</kbd> move, <kbd>Enter</kbd> opens; on an item '
            '<kbd>a</kbd> accept, <kbd>c</kbd> correct, <kbd>r</kbd> reject, <kbd>j</kbd>/<kbd>k</kbd> next/previous, '
            '<kbd>u</kbd> back to the queue.</p>')
    return viewer.finish(request, page("Queue", body, viewer, "queue", QUEUE_JS))


# ---------------------------------------------------------------- one item

def _neighbours(store: Store, filters: Filters, item_id: str) -> tuple[str | None, str | None]:
    """The ids before and after `item_id` in the queue's order (None at either end, or when it is not in it)."""
    with store.session() as s:
        ids = list(s.scalars(filters.statement(ReviewItemRow.id).limit(5000)))
    if item_id not in ids:
        return (None, ids[0] if ids else None)
    i = ids.index(item_id)
    return (ids[i - 1] if i > 0 else None, ids[i + 1] if i + 1 < len(ids) else None)


def _item(store: Store, item_id: str) -> ReviewItemRow | None:
    with store.session() as s:
        row = s.get(ReviewItemRow, item_id)
        if row is not None:
            s.expunge(row)
        return row


def _editable(output: dict | None) -> str:
    """Which field of the output a correction edits: its text, else its label."""
    output = output or {}
    return "text" if "text" in output or "label" not in output else "label"


def _output_html(output: dict | None) -> str:
    output = output or {}
    parts = []
    if "label" in output:
        parts.append(f'<dt>label</dt><dd><span class="pill">{e(output["label"])}</span></dd>')
    if "text" in output:
        parts.append(f'<dt>text</dt><dd><div class="output">{e(output["text"])}</div></dd>')
    for k, v in output.items():
        if k not in ("label", "text"):
            parts.append(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>")
    return f"<dl>{''.join(parts)}</dl>" if parts else '<p class="muted">(empty)</p>'


@router.get("/items/{item_id}")
async def item_page(request: Request, item_id: str, viewer: Reader) -> Response:
    store, filters = _store(request), Filters.parse(request.query_params)
    row = await run_in_threadpool(_item, store, item_id)
    if row is None:
        return _not_found(request, viewer, item_id)
    prev_id, next_id = await run_in_threadpool(_neighbours, store, filters, item_id)
    q = filters.query()
    suffix = f"?{q}" if q else ""
    link = (lambda i: f"/review/items/{quote(i)}{suffix}" if i else "")
    can_decide = viewer.principal.can("review")
    field = _editable(row.output)
    current = (row.correction or row.output or {}).get(field, "")
    flash = request.query_params.get("done")
    decided = (f'<p>{pill(row.status)} by {e(row.reviewer)} on {when(row.reviewed_at)}</p>'
               if row.status != "pending" else "")
    if row.correction:
        decided += f'<h2>Correction</h2>{_output_html(row.correction)}'
    actions = ""
    if can_decide:
        hidden = (f'<input type="hidden" name="csrf" value="{e(viewer.csrf)}">'
                  f'<input type="hidden" name="q" value="{e(q)}">')
        action = f"/review/items/{quote(row.id)}/decide"
        actions = (
            '<div class="actions">'
            f'<form id="f-accept" method="post" action="{action}">{hidden}<input type="hidden" name="decision" '
            'value="accept"><button class="b-accept" type="submit">Accept <kbd>a</kbd></button></form>'
            '<button id="open-edit" class="b-correct" type="button">Correct <kbd>c</kbd></button>'
            f'<form id="f-reject" method="post" action="{action}">{hidden}<input type="hidden" name="decision" '
            'value="reject"><button class="b-reject" type="submit">Reject <kbd>r</kbd></button></form></div>'
            f'<form id="edit" method="post" action="{action}">{hidden}<input type="hidden" name="decision" '
            f'value="correct"><label class="small muted" for="correction">Corrected {e(field)}</label>'
            f'<textarea id="correction" name="correction" maxlength="{MAX_CORRECTION_CHARS}">{e(current)}</textarea>'
            '<div class="hint"><kbd>Enter</kbd> saves, <kbd>Shift</kbd>+<kbd>Enter</kbd> a new line, '
            '<kbd>Esc</kbd> cancels. <button type="submit">Save correction</button></div></form>')
    else:
        actions = '<p class="hint">Your role may look at the queue but not decide.</p>'
    extra = row.extra or {}
    span = (f"characters {row.span_start}–{row.span_end}" if row.span_start is not None and row.span_end is not None
            else "no span")
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in [
        ("status", pill(row.status)), ("task", e(row.task.replace("_", " "))), ("matter", e(row.matter or "—")),
        ("confidence", confidence(row.confidence)), ("model", e(row.model_version or "—")),
        ("created", when(row.created_at)), ("document", e(row.document_id or "—")), ("span", e(span)),
        *([("queued", e(QUEUED_BECAUSE.get(extra["why"], extra["why"])))] if extra.get("why") else [])])
    prompt = ""
    if extra.get("question"):  # a cited answer: the question up front, the whole prompt folded away
        prompt = f'<h2>Question</h2><div class="output">{e(extra["question"])}</div>'
    if row.prompt:
        prompt += (f'<details><summary class="small muted">Prompt the model answered</summary>'
                   f'<div class="output small">{e(row.prompt)}</div></details>')
    nav = (f'<p class="small"><a href="{e(url("/review", filters))}">← queue</a>'
           + (f' · <a href="{e(link(prev_id))}">previous <kbd>k</kbd></a>' if prev_id else "")
           + (f' · <a href="{e(link(next_id))}">next <kbd>j</kbd></a>' if next_id else "") + "</p>")
    body = (f'<div id="item" data-id="{e(row.id)}" data-next="{e(link(next_id))}" data-prev="{e(link(prev_id))}" '
            f'data-queue="{e(url("/review", filters))}">{nav}'
            + (f'<div class="flash">Saved: {e(flash)}.</div>' if flash in DECISIONS.values() else "")
            + '<div class="grid"><div class="card"><h1>Source passage</h1>'
            f'<div class="source">{highlighted(row.source_text or "", row.span_start, row.span_end)}</div>'
            f'{prompt}</div><div><div class="card"><h1>Model output</h1>{_output_html(row.output)}{decided}'
            f'{actions}</div><div class="card"><dl>{meta}</dl></div></div></div></div>')
    return viewer.finish(request, page(f"Item {row.id}", body, viewer, "queue", ITEM_JS))


def _decide(store: Store, item_id: str, filters: Filters, decision: str, correction: str | None,
            reviewer: str) -> tuple[str, str | None] | None:
    """Record the decision and its audit row in one transaction; (new status, next pending id) or None."""
    pending = replace(filters, status="pending")
    with store.session() as s:
        row = s.get(ReviewItemRow, item_id)
        if row is None:
            return None
        ids = list(s.scalars(pending.statement(ReviewItemRow.id).limit(5000)))
        previous, status = row.status, DECISIONS[decision]
        row.status = status
        row.correction = ({**(row.output or {}), _editable(row.output): correction} if decision == "correct"
                          else None)
        row.reviewer = reviewer[:120]
        row.reviewed_at = utcnow()
        audit.record(s, "review.decide", item_id, {  # ids and states only: never the passage or the correction
            "decision": status, "previous": previous, "task": row.task, "model_version": row.model_version,
            "corrected_field": _editable(row.output) if decision == "correct" else None})
    after = ids[ids.index(item_id) + 1:] if item_id in ids else ids
    before = ids[:ids.index(item_id)] if item_id in ids else []
    rest = [i for i in after + before if i != item_id]
    return status, (rest[0] if rest else None)


@router.post("/items/{item_id}/decide")
async def decide(request: Request, item_id: str, viewer: Reviewer) -> Response:
    store = _store(request)
    form = await request.form()
    if await run_in_threadpool(_item, store, item_id) is None:
        return _not_found(request, viewer, item_id)
    check_csrf(request, viewer, str(form.get("csrf") or ""))
    decision = str(form.get("decision") or "")
    if decision not in DECISIONS:
        raise APIError(422, "decision: one of accept, correct, reject", param="decision", code="invalid_value")
    correction = str(form.get("correction") or "").strip() if decision == "correct" else None
    if decision == "correct" and not correction:
        raise APIError(422, "correction: the corrected output is empty", param="correction", code="invalid_value")
    if correction is not None and len(correction) > MAX_CORRECTION_CHARS:
        raise APIError(422, f"correction: at most {MAX_CORRECTION_CHARS} characters", param="correction",
                       code="invalid_value")
    filters = Filters.parse(QueryParams(str(form.get("q") or "")))  # the queue's filters, carried in the form
    result = await run_in_threadpool(_decide, store, item_id, filters, decision, correction, viewer.principal.user)
    if result is None:
        return _not_found(request, viewer, item_id)
    status, next_id = result
    q = filters.query()
    if next_id:
        target = f"/review/items/{quote(next_id)}?" + urlencode([("done", status)]) + (f"&{q}" if q else "")
    else:
        target = url("/review", filters)
    return viewer.finish(request, RedirectResponse(target, status_code=303))

