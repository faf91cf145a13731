"""Tables of the security layer: tenants, users, API keys (control plane) and each store's data keys.

Tenancy is one database per tenant (a schema per tenant on PostgreSQL): the control plane (tenants,
users, API keys) lives in the root store, each tenant's documents, datasets, jobs, versions,
evaluations and audit trail live in its own store (lextune.security.tenancy). These tables exist in
every store so one schema serves both; a tenant's store leaves the control-plane tables empty.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lextune.core.records import utcnow
from lextune.core.tables import Base


class TenantRow(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)  # names its store: tenants/<slug>
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))  # admin | engineer | reviewer | viewer
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiKeyRow(Base):
    """An API key: `key_id` is the public part (in the key, in logs), `secret_hash` argon2 of the rest."""

    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class DataKeyRow(Base):
    """A data key of this store, wrapped (AES-GCM) by the master key named by `master_key_id`.

    New records are sealed with the active key; older keys stay until nothing is sealed with them
    (`lextune keys rotate --reencrypt`)."""

    __tablename__ = "data_keys"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    n: Mapped[int] = mapped_column(Integer, default=0)  # order of creation
    purpose: Mapped[str] = mapped_column(String(8), default="data")  # data | index (blind indexes)
