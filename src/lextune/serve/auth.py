"""Who is asking: API key -> tenant, user, role; the tenant's own store; rate limits per key.

Every route declares the permission it needs with `Depends(need("query"))` (tests check no route lacks
one). Once any API key exists, every request must carry a valid one (`Authorization: Bearer ltk_...`):
a missing, wrong, revoked or disabled key gets 401 and nothing else. With no key created yet the
service acts as the local admin of the default tenant, and only on a loopback address (`lextune
serve` refuses a public address without keys). Another tenant's documents, jobs, files and versions
live in another store, so naming one answers 404, as for an id that never existed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from lextune.core import audit
from lextune.core.config import tenant_settings
from lextune.core.store import Store
from lextune.security.roles import Principal, local_admin
from lextune.security.tenancy import KeyVerifier, any_api_keys
from lextune.serve.openai_errors import APIError

_KEYS_CHECK_S = 2.0  # how long "no API key exists yet" is believed before asking the database again


class TokenBucket:
    """Requests per minute per key, with bursts up to `burst`; refilled continuously."""

    def __init__(self, per_minute: int, burst: int):
        self.rate, self.burst = per_minute / 60.0, burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds until a request would be."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1 - tokens) / self.rate


class Gate:
    """Per-app authentication state: the key verifier, the tenants' stores, the rate limiter."""

    def __init__(self, root: Store, per_minute: int, burst: int):
        self.root = root
        self.verifier = KeyVerifier(root)
        self.limiter = TokenBucket(per_minute, burst)
        self._stores: dict[str, Store] = {"default": root}
        self._lock = threading.Lock()
        self._keys_exist = (False, 0.0)

    def keys_required(self) -> bool:
        exist, checked = self._keys_exist
        if exist:
            return True  # keys never stop being required once one was created
        if time.monotonic() - checked > _KEYS_CHECK_S:
            exist = any_api_keys(self.root)
            self._keys_exist = (exist, time.monotonic())
        return exist

    def store(self, tenant: str) -> Store:
        with self._lock:
            if tenant not in self._stores:
                self._stores[tenant] = Store(tenant_settings(self.root.settings, tenant))
            return self._stores[tenant]

    def close(self) -> None:
        for tenant, store in self._stores.items():
            if tenant != "default":
                store.close()

    def principal(self, authorization: str | None) -> Principal:
        if not self.keys_required():
            return local_admin()
        scheme, _, presented = (authorization or "").partition(" ")
        principal = self.verifier.authenticate(presented) if scheme.lower() == "bearer" else None
        if principal is None:
            raise APIError(401, "Invalid API key.", code="invalid_api_key")
        return principal


_GATE_LOCK = threading.Lock()


def _default_gate(app) -> Gate:
    """A router included in an app of its own (not create_app's) still authenticates: over the app's store."""
    from lextune.serve.config import ServeConfig

    with _GATE_LOCK:
        if getattr(app.state, "gate", None) is None:
            cfg = getattr(app.state, "config", None) or ServeConfig()
            app.state.gate = Gate(getattr(app.state, "store", None) or Store(), cfg.rate_limit_per_minute,
                                  cfg.rate_limit_burst)
        return app.state.gate


def need(permission: str) -> Callable:
    """A route dependency: authenticate, rate-limit, check `permission`, and bind the tenant's store."""

    async def dependency(request: Request) -> Principal:
        gate = getattr(request.app.state, "gate", None) or await run_in_threadpool(_default_gate, request.app)
        principal = getattr(request.state, "principal", None)
        if principal is None:
            principal = await run_in_threadpool(gate.principal, request.headers.get("authorization"))
            if principal.key_id is not None and (wait := gate.limiter.take(principal.key_id)) > 0:
                raise APIError(429, f"Rate limit reached for this API key; retry in {wait:.1f}s.",
                               code="rate_limit_exceeded")
            request.state.principal = principal
            request.state.store = await run_in_threadpool(gate.store, principal.tenant)
            audit.set_context_actor(principal.actor if principal.key_id else None)  # this request only
        if not principal.can(permission):
            raise APIError(403, f"Your role ({principal.role}) does not allow this ({permission}).",
                           code="permission_denied")
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route-coverage test
    return dependency


def tenant_store(request: Request) -> Store:
    """The store of the tenant this request is for (set by `need`)."""
    return request.state.store
