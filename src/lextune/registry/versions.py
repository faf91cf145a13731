"""Model versions: register, list, find, and switch the active one (atomically, per scope)."""

from __future__ import annotations

import re

from sqlalchemy import select

from lextune.core import audit
from lextune.core.errors import ConfigError, NotFoundError
from lextune.core.records import ModelVersion, utcnow
from lextune.core.store import Store
from lextune.core.tables import ActiveModelRow, ModelActivationRow, ModelCanaryRow, ModelVersionRow

DEFAULT_SCOPE = "default"


def _record(r: ModelVersionRow) -> ModelVersion:
    return ModelVersion(id=r.id, name=r.name, base_model=r.base_model, adapter_path=r.adapter_path,
                        dataset_id=r.dataset_id, dataset_sha256=r.dataset_sha256, recipe=r.recipe,
                        metrics=r.metrics or {}, created_at=r.created_at, kind=r.kind or "local",
                        remote=r.remote)


def next_version_name(store: Store, prefix: str) -> str:
    """`prefix-vN` with N one past the highest in use (a count would reuse a name after a deletion)."""
    with store.session() as s:
        names = s.scalars(select(ModelVersionRow.name).where(ModelVersionRow.name.like(f"{prefix}-v%"))).all()
    taken = [int(n[len(prefix) + 2:]) for n in names if n[len(prefix) + 2:].isdigit()]
    return f"{prefix}-v{max(taken, default=0) + 1}"


def check_version_name(store: Store, name: str) -> None:
    """Refuse a name already registered, before any work is done under it."""
    if not name.strip():
        raise ConfigError("a model version name cannot be empty")
    with store.session() as s:
        row = s.scalars(select(ModelVersionRow).where(ModelVersionRow.name == name)).first()
    if row is not None:
        raise ConfigError(f"model version name '{name}' is taken (by {row.id}, created "
                          f"{row.created_at:%Y-%m-%d %H:%M}); choose another --name or leave it out")


def register_version(store: Store, version: ModelVersion) -> ModelVersion:
    with store.session() as s:
        s.add(ModelVersionRow(**version.model_dump()))
        audit.record(s, "model.register", version.id, {"name": version.name,
                                                       "dataset_sha256": version.dataset_sha256})
    return version


def list_versions(store: Store) -> list[ModelVersion]:
    with store.session() as s:
        return [_record(r) for r in s.scalars(select(ModelVersionRow).order_by(ModelVersionRow.created_at))]


def get_version(store: Store, ref: str) -> ModelVersion:
    """A version by id or name; the error lists what exists."""
    with store.session() as s:
        row = s.scalars(select(ModelVersionRow).where(
            (ModelVersionRow.id == ref) | (ModelVersionRow.name == ref))).first()
        if row is None:
            names = [r.name for r in s.scalars(select(ModelVersionRow).order_by(ModelVersionRow.created_at))]
            raise NotFoundError(f"no model version '{ref}'; known: {', '.join(names) or 'none (run lextune train)'}")
        return _record(row)


def update_metrics(store: Store, version_id: str, metrics: dict) -> None:
    with store.session() as s:
        row = s.get(ModelVersionRow, version_id)
        row.metrics = {**(row.metrics or {}), **metrics}


def activate(store: Store, ref: str, scope: str = DEFAULT_SCOPE, action: str = "activate") -> ModelVersion:
    """Make `ref` the one active version of `scope`, in one transaction (kept in the activation history)."""
    version = get_version(store, ref)
    _set_active(store, version.id, scope, action)
    return version


def use_stock(store: Store, scope: str = DEFAULT_SCOPE) -> None:
    """Go back to the base model for `scope`; versions stay registered."""
    _set_active(store, None, scope)


_SCOPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}")
RESERVED_SCOPES = ("active", "stock")  # names a request's `model` field gives another meaning


def check_scope(scope: str) -> None:
    if not _SCOPE.fullmatch(scope) or scope in RESERVED_SCOPES:
        raise ConfigError(f"scope '{scope}': use 1-64 letters, digits, '.', '_', '-' or '/' (e.g. "
                          f"immigration/spousal), starting with a letter or digit; not {' or '.join(RESERVED_SCOPES)}")


def _set_active(store: Store, version_id: str | None, scope: str, action: str | None = None) -> None:
    """Switch `scope` to `version_id` (None: stock) and append to its activation history, one transaction.

    `action` names the history entry (activate, stock, promote, rollback); a canary of the version
    that becomes active ends, as it has nothing left to try."""
    check_scope(scope)
    with store.session() as s:
        row = s.get(ActiveModelRow, scope)
        previous = row.model_version_id if row else None
        if row is None:
            s.add(ActiveModelRow(scope=scope, model_version_id=version_id, updated_at=utcnow()))
        else:
            row.model_version_id = version_id
            row.updated_at = utcnow()
        action = action or ("activate" if version_id else "stock")
        s.add(ModelActivationRow(scope=scope, model_version_id=version_id, previous_version_id=previous,
                                 action=action, created_at=utcnow()))
        canary = s.get(ModelCanaryRow, scope)
        ended = None
        if canary is not None and canary.model_version_id == version_id:
            ended = canary.model_version_id
            s.delete(canary)
        details = {"from": previous, "to": version_id}
        if action not in ("activate", "stock"):
            details["via"] = action
        if ended:
            details["canary_ended"] = ended
        audit.record(s, "model.activate" if version_id else "model.stock", scope, details)


def active_version(store: Store, scope: str = DEFAULT_SCOPE) -> ModelVersion | None:
    """The active version of `scope`, or None when the stock base model serves it."""
    with store.session() as s:
        row = s.get(ActiveModelRow, scope)
        if row is None or row.model_version_id is None:
            return None
        return _record(s.get(ModelVersionRow, row.model_version_id))
