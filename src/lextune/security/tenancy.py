"""Tenants, users and API keys: the control plane, kept in the deployment's root store.

Isolation is by construction: each tenant has its own store (database file or PostgreSQL schema, its
own folders and data keys), so a query can only ever see the tenant it was opened for; an id from
another tenant is simply not there (the API answers 404, never 403, so existence does not leak).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from lextune.core import audit
from lextune.core.config import DEFAULT_TENANT, Settings, root_settings, tenant_settings
from lextune.core.errors import ConfigError, NotFoundError
from lextune.core.records import utcnow
from lextune.core.store import Store
from lextune.core.tables_security import ApiKeyRow, TenantRow, UserRow
from lextune.security.roles import Principal, check_role

_SLUG = re.compile(r"[a-z][a-z0-9-]{1,38}")
_KEY = re.compile(r"ltk_([a-z2-7]{16})_([A-Za-z0-9_-]{40,64})")
KEY_PREFIX = "ltk_"


def key_id_of(presented: str) -> str | None:
    """The public key id of text shaped like an API key (whether or not that key exists), else None."""
    m = _KEY.fullmatch(presented.strip())
    return m.group(1) if m else None


_HASHER = PasswordHasher()  # argon2id with the library's defaults (RFC 9106 low-memory profile)


def _new_id() -> str:
    return uuid.uuid4().hex


def check_slug(slug: str) -> str:
    if slug != DEFAULT_TENANT and not _SLUG.fullmatch(slug):
        raise ConfigError(f"tenant name {slug!r}: use 2-39 lowercase letters, digits or '-', starting with a letter")
    return slug


def _tenant(s, slug: str) -> TenantRow:
    row = s.scalars(select(TenantRow).where(TenantRow.slug == slug)).first()
    if row is None and slug == DEFAULT_TENANT:
        row = TenantRow(id=DEFAULT_TENANT, slug=DEFAULT_TENANT, name="default (this installation)")
        s.add(row)
        s.flush()
    if row is None:
        raise NotFoundError(f"no tenant {slug!r}; create it with `lextune tenants create {slug}`")
    return row


def create_tenant(root: Store, slug: str, name: str | None = None) -> TenantRow:
    """Register a tenant and create its store (database or schema, folders, data keys)."""
    check_slug(slug)
    with root.session() as s:
        if s.scalars(select(TenantRow).where(TenantRow.slug == slug)).first() is not None:
            raise ConfigError(f"tenant {slug!r} exists already")
        row = TenantRow(id=_new_id(), slug=slug, name=name or slug)
        s.add(row)
        audit.record(s, "tenant.create", slug, {"tenant_id": row.id})
    Store(tenant_settings(root.settings, slug)).close()
    return row


def list_tenants(root: Store) -> list[TenantRow]:
    with root.session() as s:
        _tenant(s, DEFAULT_TENANT)
        return list(s.scalars(select(TenantRow).order_by(TenantRow.created_at)))


def add_user(root: Store, tenant: str, name: str, role: str) -> UserRow:
    check_role(role)
    with root.session() as s:
        t = _tenant(s, tenant)
        if s.scalars(select(UserRow).where(UserRow.tenant_id == t.id, UserRow.name == name)).first():
            raise ConfigError(f"user {name!r} exists already in tenant {tenant!r}")
        row = UserRow(id=_new_id(), tenant_id=t.id, name=name, role=role)
        s.add(row)
        audit.record(s, "user.add", f"{tenant}/{name}", {"role": role, "user_id": row.id})
    return row


def _user(s, tenant: str, name: str) -> UserRow:
    t = _tenant(s, tenant)
    row = s.scalars(select(UserRow).where(UserRow.tenant_id == t.id, UserRow.name == name)).first()
    if row is None:
        raise NotFoundError(f"no user {name!r} in tenant {tenant!r}")
    return row


def list_users(root: Store, tenant: str) -> list[UserRow]:
    with root.session() as s:
        t = _tenant(s, tenant)
        return list(s.scalars(select(UserRow).where(UserRow.tenant_id == t.id).order_by(UserRow.name)))


def set_user(root: Store, tenant: str, name: str, role: str | None = None, disabled: bool | None = None) -> UserRow:
    with root.session() as s:
        row = _user(s, tenant, name)
        if role is not None:
            row.role = check_role(role)
        if disabled is not None:
            row.disabled = disabled
        audit.record(s, "user.update", f"{tenant}/{name}", {"role": row.role, "disabled": row.disabled})
    return row


def create_api_key(root: Store, tenant: str, user: str, label: str = "") -> tuple[str, str]:
    """A new key for `user`: returns (key_id, key). The key is shown once; only its argon2 hash is kept."""
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(16))
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    with root.session() as s:
        u = _user(s, tenant, user)
        s.add(ApiKeyRow(key_id=key_id, user_id=u.id, secret_hash=_HASHER.hash(key), name=label))
        audit.record(s, "api_key.create", f"{tenant}/{user}", {"key_id": key_id, "label": label})
    return key_id, key


def revoke_api_key(root: Store, tenant: str, key_id: str) -> None:
    with root.session() as s:
        row = s.get(ApiKeyRow, key_id)
        t = _tenant(s, tenant)
        owner = s.get(UserRow, row.user_id) if row else None
        if row is None or owner is None or owner.tenant_id != t.id:
            raise NotFoundError(f"no API key {key_id!r} in tenant {tenant!r}")
        row.revoked_at = row.revoked_at or utcnow()
        audit.record(s, "api_key.revoke", f"{tenant}/{owner.name}", {"key_id": key_id})


def list_api_keys(root: Store, tenant: str) -> list[dict]:
    with root.session() as s:
        t = _tenant(s, tenant)
        rows = s.execute(select(ApiKeyRow, UserRow).join(UserRow, UserRow.id == ApiKeyRow.user_id)
                         .where(UserRow.tenant_id == t.id).order_by(ApiKeyRow.created_at)).all()
        return [{"key_id": k.key_id, "user": u.name, "role": u.role, "label": k.name,
                 "created_at": k.created_at.isoformat(), "revoked": k.revoked_at is not None} for k, u in rows]


def any_api_keys(root: Store) -> bool:
    with root.session() as s:
        return s.scalars(select(ApiKeyRow.key_id).limit(1)).first() is not None


def key_principal(session, key_id: str) -> tuple[Principal, str] | None:
    """Who key `key_id` acts as now, and its secret's hash; None when the key is unknown or revoked, or its
    user or tenant disabled. Read on every request, so revocation and disabling apply at once."""
    row = session.get(ApiKeyRow, key_id)
    if row is None or row.revoked_at is not None:
        return None
    user = session.get(UserRow, row.user_id)
    tenant = session.get(TenantRow, user.tenant_id) if user else None
    if user is None or user.disabled or tenant is None or tenant.disabled:
        return None
    return Principal(tenant=tenant.slug, user=user.name, role=user.role, key_id=key_id), row.secret_hash


class KeyVerifier:
    """Checks presented API keys. argon2 is slow on purpose (~50 ms), so a key verified once is
    remembered (by its sha256, in memory) and each request only re-reads the key's row: a revoked key
    or a disabled user is refused at once."""

    def __init__(self, root: Store):
        self.root = root
        self._verified: dict[str, str] = {}  # sha256(key) -> key_id
        self._lock = threading.Lock()

    def authenticate(self, presented: str | None) -> Principal | None:
        if not presented:
            return None
        key_id = key_id_of(presented)
        if key_id is None:
            return None
        digest = hashlib.sha256(presented.strip().encode()).hexdigest()
        with self.root.session() as s:
            found = key_principal(s, key_id)
        if found is None:
            return None
        principal, secret_hash = found
        with self._lock:
            known = self._verified.get(digest) == key_id
        if not known:
            try:
                _HASHER.verify(secret_hash, presented.strip())
            except (VerificationError, InvalidHashError):
                return None
            with self._lock:
                self._verified[digest] = key_id
        return principal


def cli_principal(settings: Settings | None = None) -> Principal:
    """Who the CLI acts as: LEXTUNE_USER of LEXTUNE_TENANT (role looked up), else the local admin."""
    root = root_settings() if settings is None else settings
    tenant = check_slug(root.tenant)
    if root.user is None and tenant == DEFAULT_TENANT:
        return Principal(tenant=tenant, user="local-admin", role="admin")
    store = Store(root)
    try:
        with store.session() as s:
            t = _tenant(s, tenant)
            if root.user is None:
                return Principal(tenant=t.slug, user="local-admin", role="admin")
            u = _user(s, tenant, root.user)
            if u.disabled:
                raise ConfigError(f"user {root.user!r} of tenant {tenant!r} is disabled")
            return Principal(tenant=t.slug, user=u.name, role=u.role)
    finally:
        store.close()


