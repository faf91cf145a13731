"""Who is looking at the review screen: an API key once at the login page, then a signed session cookie.

The cookie (`lextune_review`, HttpOnly, SameSite=Strict, path /review) holds a token signed with
HMAC-SHA256: the tenant, the user, the API key's public id, a nonce and an expiry; never the key itself.
The signing secret is made once per installation and kept sealed under LEXTUNE_HOME
(lextune.serve.review_sessions), so a restarted server, or a second worker on the same home, accepts the
sessions already open. Signing out records the session's nonce as ended there too, so the cookie is
refused afterwards even if it was copied. Every request re-reads the key's row, so a revoked key, a
disabled user or a changed role takes effect at once, as with the API.
An `Authorization: Bearer` header is accepted as well (scripts, the route-coverage tests); without any
API key configured (local mode) the local admin of the default tenant is used, as the API does.

Decisions are POSTs carrying a CSRF token derived from the session's nonce; requests authenticated by a
bearer header need none (a browser never attaches that header by itself).
Failed sign-ins are counted and locked out: lextune.serve.review_lockout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from lextune.core import audit
from lextune.core.store import Store
from lextune.security.roles import Principal, local_admin
from lextune.serve.auth import Gate, _default_gate
from lextune.serve.openai_errors import APIError
from lextune.serve.review_sessions import EndedSessions, folder_of, session_secret

COOKIE = "lextune_review"
COOKIE_PATH = "/review"
SESSION_S = 8 * 3600  # a working day; then the key is asked for again
_SECRET_LOCK = threading.Lock()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def root_store(app) -> Store:
    gate = getattr(app.state, "gate", None)
    return gate.root if gate is not None else app.state.store


def app_secret(app) -> bytes:
    """The app's signing secret: the installation's (review_sessions.session_secret), read once per app."""
    with _SECRET_LOCK:
        secret = getattr(app.state, "review_secret", None)
        if secret is None:
            secret = app.state.review_secret = session_secret(root_store(app))
        return secret


def ended_sessions(app) -> EndedSessions:
    """The signed-out sessions of the app's installation."""
    with _SECRET_LOCK:
        ended = getattr(app.state, "review_ended", None)
        if ended is None:
            ended = app.state.review_ended = EndedSessions(folder_of(root_store(app)))
        return ended


def end_session(request: Request) -> None:
    """Sign out the session of the request's cookie, if it carries a valid one (runs in a thread)."""
    payload = unsign(app_secret(request.app), request.cookies.get(COOKIE))
    if payload is not None and isinstance(payload.get("n"), str):
        ended_sessions(request.app).end(payload["n"], payload["exp"])


def sign(secret: bytes, payload: dict) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac.new(secret, b"session:" + body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def unsign(secret: bytes, token: str | None, now: float | None = None) -> dict | None:
    """The payload of a token signed with `secret` and not expired, else None."""
    if not token or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    expected = _b64(hmac.new(secret, b"session:" + body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        return None
    return payload if payload["exp"] > (time.time() if now is None else now) else None


def csrf_token(secret: bytes, nonce: str) -> str:
    return hmac.new(secret, b"csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def new_session(principal: Principal) -> dict:
    return {"t": principal.tenant, "u": principal.user, "k": principal.key_id, "n": secrets.token_hex(16),
            "exp": int(time.time()) + SESSION_S}


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(COOKIE, token, max_age=SESSION_S, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def session_principal(gate: Gate, payload: dict) -> Principal | None:
    """The principal a session names, as the database says now (None: key revoked, user or tenant disabled)."""
    from lextune.security.tenancy import key_principal

    key_id = payload.get("k")
    if key_id is None:  # a local-mode session: good only while no API key exists
        return None if gate.keys_required() else local_admin()
    with gate.root.session() as s:
        found = key_principal(s, key_id)
    if found is None:
        return None
    principal = found[0]
    return principal if (principal.tenant, principal.user) == (payload.get("t"), payload.get("u")) else None


@dataclass
class Viewer:
    """The principal of one review-screen request, how it was authenticated, and its CSRF token."""

    principal: Principal
    via: str  # "session" | "bearer" | "local"
    csrf: str = ""
    new_cookie: str | None = None  # a fresh local-mode session to set on the response

    def finish(self, request: Request, response: Response) -> Response:
        if self.new_cookie:
            set_session_cookie(request, response, self.new_cookie)
        return response


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _login_redirect(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    from urllib.parse import quote

    return HTTPException(303, "Sign in first.", headers={"Location": f"/review/login?next={quote(target, safe='')}"})


def _identify(request: Request) -> Viewer:
    """Runs in a thread: bearer header, else session cookie, else local mode, else 401 / the login page."""
    gate = getattr(request.app.state, "gate", None) or _default_gate(request.app)
    secret = app_secret(request.app)
    authorization = request.headers.get("authorization")
    if authorization:
        return Viewer(gate.principal(authorization), via="bearer")  # 401 on a bad key, as the API
    payload = unsign(secret, request.cookies.get(COOKIE))
    if payload is not None and (not isinstance(payload.get("n"), str)
                                or ended_sessions(request.app).is_ended(payload["n"])):
        payload = None  # signed out (or not a session of ours)
    if payload is not None and (principal := session_principal(gate, payload)) is not None:
        return Viewer(principal, via="session", csrf=csrf_token(secret, payload["n"]))
    if not gate.keys_required():
        payload = new_session(local_admin())
        return Viewer(local_admin(), via="local", csrf=csrf_token(secret, payload["n"]),
                      new_cookie=sign(secret, payload))
    if request.method == "GET" and wants_html(request):
        raise _login_redirect(request)
    raise APIError(401, "Sign in at /review/login, or send an API key.", code="invalid_api_key")


def viewer_for(permission: str) -> Callable:
    """The review screen's `need(permission)`: authenticate (cookie-aware), rate-limit, check the role, and
    bind the tenant's store to request.state.store. Returns a Viewer."""

    async def dependency(request: Request) -> Viewer:
        viewer = getattr(request.state, "review_viewer", None)
        if viewer is None:
            viewer = await run_in_threadpool(_identify, request)
            gate = getattr(request.app.state, "gate", None) or await run_in_threadpool(_default_gate, request.app)
            key_id = viewer.principal.key_id
            if key_id is not None and (wait := gate.limiter.take(key_id)) > 0:
                raise APIError(429, f"Rate limit reached for this API key; retry in {wait:.1f}s.",
                               code="rate_limit_exceeded")
            request.state.review_viewer = viewer
            request.state.principal = viewer.principal
            request.state.store = await run_in_threadpool(gate.store, viewer.principal.tenant)
            audit.set_context_actor(viewer.principal.actor if key_id else None)  # this request only
        if not viewer.principal.can(permission):
            raise APIError(403, f"Your role ({viewer.principal.role}) does not allow this ({permission}).",
                           code="permission_denied")
        return viewer

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route-coverage test
    return dependency


def public() -> Callable:
    """Declares a route open to anyone (the login page itself): no key, no role."""

    async def dependency() -> None:
        return None

    dependency.permission = "public"  # type: ignore[attr-defined]  # declared, not forgotten
    return dependency


def check_csrf(request: Request, viewer: Viewer, presented: str | None) -> None:
    """403 unless a cookie-authenticated POST carries its session's CSRF token."""
    if viewer.via == "bearer":
        return
    if not presented or not viewer.csrf or not hmac.compare_digest(presented, viewer.csrf):
        raise APIError(403, "Missing or stale form token; reload the page and try again.", code="csrf_failed")
