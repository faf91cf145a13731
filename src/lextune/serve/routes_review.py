"""The review screen (`/review`): the queue of model outputs waiting for a lawyer, one item with its source
passage and cited span, Accept / Correct / Reject with keyboard shortcuts, and a dashboard of jobs, versions,
evaluations and activations with the gate's verdicts.

Server-rendered HTML with inline CSS and JS (lextune.serve.review_pages): nothing is fetched from elsewhere.
Sign-in, sessions, CSRF and roles: lextune.serve.review_auth. Viewers may look; reviewers and above decide.
Each principal sees only its tenant's store, so another tenant's item id answers 404 like one that never existed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import desc, func, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from lextune.core import audit
from lextune.core.records import utcnow
from lextune.core.store import Store
from lextune.core.tables import (
    ActiveModelRow,
    AuditEventRow,
    EvalComparisonRow,
    EvalRunRow,
    ModelVersionRow,
    TrainingJobRow,
)
from lextune.core.tables_review import REVIEW_STATES, REVIEW_TASKS, ReviewItemRow
from lextune.serve.auth import _default_gate
from lextune.serve.openai_errors import APIError
from lextune.serve.review_auth import (
    Viewer,
    app_secret,
    check_csrf,
    clear_session_cookie,
    new_session,
    public,
    set_session_cookie,
    sign,
    viewer_for,
    wants_html,
)
from lextune.serve.review_pages import ITEM_JS, QUEUE_JS, confidence, e, highlighted, page, pill, when

router = APIRouter(prefix="/review", tags=["review"], include_in_schema=False)

QUEUE_LIMIT = 200
MAX_CORRECTION_CHARS = 20_000
DECISIONS = {"accept": "accepted", "correct": "corrected", "reject": "rejected"}
SORTS = {"newest": "newest first", "confidence": "least confident first"}
ACTIVATIONS = ("model.activate", "model.activate.forced", "model.stock")

Reader = Annotated[Viewer, Depends(viewer_for("read"))]
Reviewer = Annotated[Viewer, Depends(viewer_for("review"))]


# ---------------------------------------------------------------- the queue's filters, carried from page to page

@dataclass(frozen=True)
class Filters:
    status: str = "pending"
    task: str = ""
    matter: str = ""
    min_conf: float | None = None
    max_conf: float | None = None
    sort: str = "newest"

    @classmethod
    def parse(cls, q: Mapping[str, str]) -> Filters:
        status = q.get("status", "pending")
        return cls(status=status if status in (*REVIEW_STATES, "all") else "pending",
                   task=q.get("task", "") if q.get("task", "") in REVIEW_TASKS else "",
                   matter=q.get("matter", "")[:500], min_conf=_number(q.get("min_conf")),
                   max_conf=_number(q.get("max_conf")), sort=q.get("sort") if q.get("sort") in SORTS else "newest")

    def query(self) -> str:
        pairs = [(k, v) for k, v in [("status", self.status if self.status != "pending" else ""), ("task", self.task),
                                     ("matter", self.matter), ("min_conf", _fmt(self.min_conf)),
                                     ("max_conf", _fmt(self.max_conf)),
                                     ("sort", self.sort if self.sort != "newest" else "")] if v]
        return urlencode(pairs)

    def statement(self, columns: Any = ReviewItemRow):
        stmt = select(columns)
        if self.status != "all":
            stmt = stmt.where(ReviewItemRow.status == self.status)
        if self.task:
            stmt = stmt.where(ReviewItemRow.task == self.task)
        if self.matter:
            stmt = stmt.where(ReviewItemRow.matter == self.matter)
        if self.min_conf is not None:
            stmt = stmt.where(ReviewItemRow.confidence >= self.min_conf)
        if self.max_conf is not None:
            stmt = stmt.where(ReviewItemRow.confidence <= self.max_conf)
        if self.sort == "confidence":
            return stmt.order_by(ReviewItemRow.confidence.asc().nulls_last(), desc(ReviewItemRow.created_at),
                                 ReviewItemRow.id)
        return stmt.order_by(desc(ReviewItemRow.created_at), ReviewItemRow.id)


def _number(text: str | None) -> float | None:
    """A confidence bound given in percent, as the filter form shows it (0..100) -> 0..1; None if not a number."""
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    if value is None or not math.isfinite(value):
        return None
    return min(1.0, max(0.0, value / 100))


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value * 100:g}"


def _url(path: str, filters: Filters) -> str:
    q = filters.query()
    return path + (f"?{q}" if q else "")


def _store(request: Request) -> Store:
    return request.state.store


def _not_found(request: Request, viewer: Viewer, item_id: str) -> Response:
    if wants_html(request):
        return page("Not found", f'<div class="card"><h1>No such review item</h1><p class="muted">{e(item_id)}</p>'
                    '<p><a href="/review">Back to the queue</a></p></div>', viewer, status=404)
    raise APIError(404, f"No such review item: {item_id}", param="item_id", code="review_item_not_found")


# ---------------------------------------------------------------- sign-in

def _login_page(next_url: str, error: str = "", status: int = 200) -> Response:
    body = ('<div class="login card"><h1>Sign in to review</h1>'
            + (f'<div class="error">{e(error)}</div>' if error else "")
            + '<form method="post" action="/review/login"><label for="key">API key</label>'
            f'<input id="key" name="key" type="password" autocomplete="off" placeholder="ltk_…" autofocus required>'
            f'<input type="hidden" name="next" value="{e(next_url)}">'
            '<button class="btn-primary" type="submit">Sign in</button></form>'
            '<p class="hint">The key is checked once; the browser keeps only a signed session (8 hours), '
            'never the key. Ask an admin for a key: <code>lextune keys create</code>.</p></div>')
    return page("Sign in", body, None, status=status)


def _safe_next(value: str | None) -> str:
    value = value or "/review"
    return value if value.startswith("/review") and "//" not in value and "\\" not in value else "/review"


@router.get("/login", dependencies=[Depends(public())])
async def login_form(request: Request) -> Response:
    gate = getattr(request.app.state, "gate", None) or await run_in_threadpool(_default_gate, request.app)
    next_url = _safe_next(request.query_params.get("next"))
    if not await run_in_threadpool(gate.keys_required):
        return RedirectResponse(next_url, status_code=303)  # local mode: the local admin, as the API
    return _login_page(next_url)


@router.post("/login", dependencies=[Depends(public())])
async def login(request: Request) -> Response:
    form = await request.form()
    key, next_url = str(form.get("key") or ""), _safe_next(str(form.get("next") or ""))
    gate = getattr(request.app.state, "gate", None) or await run_in_threadpool(_default_gate, request.app)
    principal = await run_in_threadpool(gate.verifier.authenticate, key.strip())
    if principal is None:
        return _login_page(next_url, "That key is not valid (wrong, revoked, or its user is disabled).", 401)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(request, response, sign(app_secret(request.app), new_session(principal)))
    return response


@router.post("/logout", dependencies=[Depends(public())])
async def logout() -> Response:
    response = RedirectResponse("/review/login", status_code=303)
    clear_session_cookie(response)
    return response


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
            f'value="{e(_fmt(filters.min_conf))}"></label>'
            f'<label>to %<input name="max_conf" type="number" min="0" max="100" step="1" size="4" '
            f'value="{e(_fmt(filters.max_conf))}"></label>'
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
    span = (f"characters {row.span_start}–{row.span_end}" if row.span_start is not None and row.span_end is not None
            else "no span")
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in [
        ("status", pill(row.status)), ("task", e(row.task.replace("_", " "))), ("matter", e(row.matter or "—")),
        ("confidence", confidence(row.confidence)), ("model", e(row.model_version or "—")),
        ("created", when(row.created_at)), ("document", e(row.document_id or "—")), ("span", e(span))])
    prompt = (f'<h2>Prompt</h2><div class="output small">{e(row.prompt)}</div>' if row.prompt else "")
    nav = (f'<p class="small"><a href="{e(_url("/review", filters))}">← queue</a>'
           + (f' · <a href="{e(link(prev_id))}">previous <kbd>k</kbd></a>' if prev_id else "")
           + (f' · <a href="{e(link(next_id))}">next <kbd>j</kbd></a>' if next_id else "") + "</p>")
    body = (f'<div id="item" data-id="{e(row.id)}" data-next="{e(link(next_id))}" data-prev="{e(link(prev_id))}" '
            f'data-queue="{e(_url("/review", filters))}">{nav}'
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
        target = _url("/review", filters)
    return viewer.finish(request, RedirectResponse(target, status_code=303))


# ---------------------------------------------------------------- the dashboard

def _headline(run: EvalRunRow) -> list[tuple[str, float]]:
    """The run's headline metric first, then up to three other top-level numbers."""
    metrics = run.metrics or {}
    out: list[tuple[str, float]] = []
    key = (run.notes or {}).get("headline")
    if key:
        node: Any = metrics
        for part in str(key).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, int | float) and not isinstance(node, bool):
            out.append((str(key), float(node)))
    for k, v in metrics.items():
        if len(out) >= 4:
            break
        if isinstance(v, int | float) and not isinstance(v, bool) and k != key:
            out.append((k, float(v)))
    return out


def _dashboard_data(store: Store) -> dict:
    with store.session() as s:
        versions = list(s.scalars(select(ModelVersionRow).order_by(desc(ModelVersionRow.created_at)).limit(30)))
        names = {v.id: v.name for v in s.scalars(select(ModelVersionRow))}
        data = {
            "jobs": list(s.scalars(select(TrainingJobRow).order_by(desc(TrainingJobRow.started_at)).limit(20))),
            "versions": versions,
            "names": names,
            "active": list(s.scalars(select(ActiveModelRow).order_by(ActiveModelRow.scope))),
            "runs": list(s.scalars(select(EvalRunRow).order_by(desc(EvalRunRow.created_at)).limit(20))),
            "comparisons": list(s.scalars(select(EvalComparisonRow).order_by(desc(EvalComparisonRow.created_at))
                                          .limit(20))),
            "activations": list(s.scalars(select(AuditEventRow).where(AuditEventRow.action.in_(ACTIVATIONS))
                                          .order_by(desc(AuditEventRow.id)).limit(30))),
            "review": dict(s.execute(select(ReviewItemRow.status, func.count())
                                     .group_by(ReviewItemRow.status)).all()),
        }
        s.expunge_all()
    return data


def _verdict(comparison: EvalComparisonRow | None) -> str:
    if comparison is None:
        return '<span class="muted">no comparison</span>'
    verdict = (comparison.report or {}).get("verdict") or {}
    checks = "".join(f'<li>{pill("passed" if c.get("passed") else "failed")} {e(c.get("name"))}'
                     f'<div class="small muted">{e(c.get("detail", ""))}</div></li>'
                     for c in verdict.get("checks") or [])
    missing = verdict.get("missing") or []
    return (pill("passed" if comparison.passed else "failed") + f' <span class="small muted">comparison '
            f'{e(comparison.id)} · {when(comparison.created_at)}</span>'
            + (f'<ul class="small" style="margin:4px 0;padding-left:18px">{checks}</ul>' if checks else "")
            + (f'<div class="small muted">missing: {e(", ".join(map(str, missing)))}</div>' if missing else ""))


def _gate_for(comparisons: list[EvalComparisonRow], version_id: str | None, at) -> EvalComparisonRow | None:
    """The newest comparison of `version_id` as candidate made before `at` (what the gate consulted)."""
    for c in comparisons:  # newest first
        if c.b_version_id == version_id and (at is None or c.created_at is None or _naive(c.created_at) <= _naive(at)):
            return c
    return None


def _naive(value):
    return value.replace(tzinfo=None) if getattr(value, "tzinfo", None) else value


@router.get("/dashboard")
async def dashboard(request: Request, viewer: Reader) -> Response:
    d = await run_in_threadpool(_dashboard_data, _store(request))
    names = d["names"]
    name = (lambda vid: e(names.get(vid, vid)) if vid else '<span class="muted">stock</span>')
    active_of: dict[str, list[str]] = {}
    for a in d["active"]:
        active_of.setdefault(a.model_version_id or "", []).append(a.scope)
    review = d["review"]
    summary = " · ".join(f"{pill(s)} {review.get(s, 0)}" for s in REVIEW_STATES)
    active = ", ".join(f"<b>{e(a.scope)}</b>: {name(a.model_version_id)}" for a in d["active"]) or \
        '<span class="muted">stock everywhere</span>'
    jobs = "".join(
        f'<tr><td><code>{e(j.id)}</code></td><td>{pill(j.status)}</td><td class="small">{e(j.base_model)}</td>'
        f'<td class="num">{j.step}/{j.total_steps}</td>'
        f'<td class="num">{"" if j.last_loss is None else f"{j.last_loss:.4f}"}</td>'
        f'<td>{name(j.model_version_id) if j.model_version_id else e(j.version_name or "")}</td>'
        f'<td class="small muted">{when(j.started_at)}</td></tr>' for j in d["jobs"])
    versions = "".join(
        f'<tr><td><b>{e(v.name)}</b><div class="small muted">{e(v.id)}</div></td><td class="small">{e(v.base_model)}'
        f'</td><td class="small"><code>{e(v.dataset_id)}</code></td><td>{e(v.kind)}</td>'
        f'<td>{", ".join(e(s) for s in active_of.get(v.id, [])) or ""}</td>'
        f'<td>{_verdict(_gate_for(d["comparisons"], v.id, None))}</td>'
        f'<td class="small muted">{when(v.created_at)}</td></tr>' for v in d["versions"])
    runs = "".join(
        f'<tr><td>{e(r.model)}</td><td>{e(r.task or "")}</td><td>{e(r.split)}</td><td class="num">{e(r.n)}</td>'
        f'<td class="num">' + " · ".join(f"{e(k)} <b>{v:.3f}</b>" if v % 1 else f"{e(k)} <b>{v:.0f}</b>" for k, v in _headline(r)) + "</td>"
        f'<td class="small muted">{when(r.created_at)}</td></tr>' for r in d["runs"])
    acts = []
    for a in d["activations"]:
        details = a.details or {}
        if a.action == "model.activate.forced":
            what, scope, version = "forced past the gate", details.get("scope", "default"), a.target
            extra = f'<div class="small muted">{e(details.get("reason", ""))}</div>'
        elif a.action == "model.stock":
            what, scope, version, extra = "back to stock", a.target, None, ""
            extra = f'<div class="small muted">from {name(details.get("from"))}</div>'
        else:
            what, scope, version = "activated", a.target, details.get("to")
            extra = f'<div class="small muted">from {name(details.get("from"))}</div>'
        gate = _verdict(_gate_for(d["comparisons"], version, a.ts)) if version else ""
        acts.append(f'<tr><td class="small muted">{when(a.ts)}</td><td>{e(what)}{extra}</td><td>{e(scope)}</td>'
                    f'<td>{name(version)}</td><td>{gate}</td><td class="small">{e(a.actor)}</td></tr>')

    def table(head: list[str], rows: str, empty: str) -> str:
        if not rows:
            return f'<div class="card muted">{empty}</div>'
        return f'<table><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr></thead><tbody>{rows}</tbody></table>'

    body = (f'<h1>Dashboard</h1><div class="card"><dl><dt>review queue</dt><dd>{summary} · '
            f'<a href="/review">open the queue</a></dd><dt>active models</dt><dd>{active}</dd></dl></div>'
            '<h2>Activation history and the gate\'s verdicts</h2>'
            + table(["When", "What", "Scope", "Version", "Gate verdict", "By"], "".join(acts),
                    "No model has been activated yet.")
            + "<h2>Model versions</h2>"
            + table(["Version", "Base model", "Dataset", "Kind", "Active in", "Latest gate verdict", "Created"],
                    versions, "No model versions yet.")
            + "<h2>Fine-tuning jobs</h2>"
            + table(["Job", "Status", "Base model", "Step", "Loss", "Version", "Started"], jobs, "No jobs yet.")
            + "<h2>Latest evaluations</h2>"
            + table(["Model", "Task", "Split", "n", "Headline metrics", "When"], runs, "No evaluation runs yet."))
    return viewer.finish(request, page("Dashboard", body, viewer, "dashboard"))
