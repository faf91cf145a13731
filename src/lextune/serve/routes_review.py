"""The review screen (`/review`): the router `lextune serve` includes, and sign-in / sign-out.

The screen's parts, each in its own module:
- lextune.serve.review_queue: the queue of model outputs waiting for a lawyer, one item with its source
  passage and cited span, Accept / Correct / Reject with keyboard shortcuts (filters: review_filters);
- lextune.serve.review_dashboard: jobs, versions, evaluations and activations with the gate's verdicts;
- lextune.serve.review_auth: sessions, CSRF and roles (viewers may look; reviewers and above decide),
  with review_sessions (the persistent signing secret, sign-outs) and review_lockout (failed sign-ins);
- lextune.serve.review_pages: server-rendered HTML with inline CSS and JS: nothing is fetched from elsewhere.

Each principal sees only its tenant's store, so another tenant's item id answers 404 like one that never existed.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lextune.core import audit
from lextune.security.tenancy import key_id_of
from lextune.serve import review_dashboard, review_queue
from lextune.serve.auth import _default_gate
from lextune.serve.review_auth import (
    app_secret,
    clear_session_cookie,
    end_session,
    new_session,
    public,
    root_store,
    set_session_cookie,
    sign,
)
from lextune.serve.review_lockout import MAX_FAILURES, guard_of, subjects
from lextune.serve.review_pages import e, page

log = logging.getLogger(__name__)

_signin = APIRouter(prefix="/review", tags=["review"], include_in_schema=False)


# ---------------------------------------------------------------- sign-in

def _login_page(next_url: str, error: str = "", status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = ('<div class="login card"><h1>Sign in to review</h1>'
            + (f'<div class="error">{e(error)}</div>' if error else "")
            + '<form method="post" action="/review/login"><label for="key">API key</label>'
            f'<input id="key" name="key" type="password" autocomplete="off" placeholder="ltk_…" autofocus required>'
            f'<input type="hidden" name="next" value="{e(next_url)}">'
            '<button class="btn-primary" type="submit">Sign in</button></form>'
            '<p class="hint">The key is checked once; the browser keeps only a signed session (8 hours), '
            'never the key. Ask an admin for a key: <code>lextune keys create</code>.</p></div>')
    response = page("Sign in", body, None, status=status)
    response.headers.update(headers or {})
    return response


def _locked_page(next_url: str, wait_s: float) -> Response:
    """429: too many failed sign-ins from this address (or for this key id); the same whether the key exists."""
    wait = max(1, math.ceil(wait_s))
    until = (datetime.now(UTC) + timedelta(seconds=wait)).strftime("%H:%M UTC")
    minutes = max(1, math.ceil(wait / 60))
    return _login_page(next_url, f"Too many failed sign-ins. Try again after {until} "
                                 f"(in about {minutes} minute{'s' if minutes != 1 else ''}).",
                       429, {"Retry-After": str(wait)})


def _safe_next(value: str | None) -> str:
    value = value or "/review"
    return value if value.startswith("/review") and "//" not in value and "\\" not in value else "/review"


def _gate(request: Request):
    return getattr(request.app.state, "gate", None)


def _audit_failure(request: Request, client: str, key_id: str | None, failures: int, locked_s: float) -> None:
    """The audit rows of a failed sign-in (and of the lockout it started), in the installation's root store.
    The address and the key's public id only: never the text presented."""
    details = {"client": client, "key_id": key_id, "failures": failures}
    with root_store(request.app).session() as s:
        audit.record(s, "review.login.failed", key_id or "", details)
        if locked_s:
            audit.record(s, "review.login.locked", client,
                         {**details, "locked_s": int(locked_s), "threshold": MAX_FAILURES})


@_signin.get("/login", dependencies=[Depends(public())])
async def login_form(request: Request) -> Response:
    gate = _gate(request) or await run_in_threadpool(_default_gate, request.app)
    next_url = _safe_next(request.query_params.get("next"))
    if not await run_in_threadpool(gate.keys_required):
        return RedirectResponse(next_url, status_code=303)  # local mode: the local admin, as the API
    return _login_page(next_url)


@_signin.post("/login", dependencies=[Depends(public())])
async def login(request: Request) -> Response:
    form = await request.form()
    key, next_url = str(form.get("key") or "").strip(), _safe_next(str(form.get("next") or ""))
    client = request.client.host if request.client else "unknown"
    key_id = key_id_of(key)  # the public part, when the text is shaped like a key; never the secret
    who, guard = subjects(client, key_id), guard_of(request.app)
    if (wait := guard.begin(who)) > 0:
        return _locked_page(next_url, wait)  # the key is not even checked
    gate = _gate(request) or await run_in_threadpool(_default_gate, request.app)
    principal = await run_in_threadpool(gate.verifier.authenticate, key)
    if principal is None:
        failures, locked_s = guard.failed(who)
        audit.set_context_actor(f"anonymous@{client}")  # this request only
        await run_in_threadpool(_audit_failure, request, client, key_id, failures, locked_s)
        log.warning("review sign-in failed from %s (key id %s, %d in a row)%s", client, key_id or "-", failures,
                    f"; locked out for {int(locked_s)} s" if locked_s else "")
        if locked_s:
            return _locked_page(next_url, locked_s)
        return _login_page(next_url, "That key is not valid (wrong, revoked, or its user is disabled).", 401)
    guard.succeeded(who)
    secret = await run_in_threadpool(app_secret, request.app)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(request, response, sign(secret, new_session(principal)))
    return response


@_signin.post("/logout", dependencies=[Depends(public())])
async def logout(request: Request) -> Response:
    await run_in_threadpool(end_session, request)  # refused from now on, even where the cookie was copied
    response = RedirectResponse("/review/login", status_code=303)
    clear_session_cookie(response)
    return response


# ---------------------------------------------------------------- the router `lextune serve` includes

router = APIRouter()
for _part in (_signin, review_queue.router, review_dashboard.router):
    router.include_router(_part)
