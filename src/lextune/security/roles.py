"""Roles and what each may do; one table for the API routes and the CLI commands alike."""

from __future__ import annotations

from dataclasses import dataclass

# Ordered: each role may do everything the roles before it may.
ROLES = ("viewer", "reviewer", "engineer", "admin")

# permission -> the least role holding it
PERMISSIONS: dict[str, str] = {
    "read": "viewer",      # list models, jobs, files, runs; read the vault
    "query": "viewer",     # ask the models: chat, completions, embeddings, contract analysis
    "review": "reviewer",  # served answers and their audit rows; corrections to the model
    "data": "engineer",    # ingest, upload files, build datasets
    "train": "engineer",   # fine-tuning jobs, evaluations, activating model versions
    "admin": "admin",      # users, API keys, tenants, erasure, key rotation, audit verification
}


class PermissionDenied(Exception):
    """The principal's role does not hold the permission (the API answers 403 within a tenant)."""


def role_allows(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return role in ROLES and ROLES.index(role) >= ROLES.index(PERMISSIONS[permission])


def check_role(role: str) -> str:
    if role not in ROLES:
        from lextune.core.errors import ConfigError

        raise ConfigError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role


@dataclass(frozen=True)
class Principal:
    """Who acts: a user of a tenant with a role; `key_id` names the API key used (never the secret)."""

    tenant: str
    user: str
    role: str
    key_id: str | None = None

    def can(self, permission: str) -> bool:
        return role_allows(self.role, permission)

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise PermissionDenied(f"{self.user} ({self.role}) may not do this: it needs the '{permission}' "
                                   f"permission, held by {PERMISSIONS[permission]} and above")

    @property
    def actor(self) -> str:
        """How the audit trail names this principal."""
        who = self.user if self.tenant == "default" else f"{self.tenant}/{self.user}"
        return (who + (f" key:{self.key_id}" if self.key_id else ""))[:64]  # the actor column's width


def local_admin(tenant: str = "default") -> Principal:
    """The CLI's operator when no user is configured: whoever runs it already holds the files and keys."""
    return Principal(tenant=tenant, user="local-admin", role="admin")
