"""Blue-green / A/B rollout of a scope's model: canary, promote, rollback.

A canary is a candidate version answering `share` of the requests that name a scope's alias
(`active`, or the scope's name). The arm is a hash of (scope, candidate, routing key), the routing key
being the request's user (else its request id), so one user sees one model for the canary's life and
the share holds over many users; the trace of every answer says which arm answered.

`promote` makes the candidate active (ending its canary); `rollback` returns the scope to the version
that was active before the current one (the activation history, model_activations), ending any
canary; rolling back twice steps two activations back. Every step is audited.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from lextune.core import audit
from lextune.core.errors import ConfigError
from lextune.core.records import ModelVersion, utcnow
from lextune.core.store import Store
from lextune.core.tables import ActiveModelRow, AuditEventRow, ModelActivationRow, ModelCanaryRow
from lextune.registry.versions import (
    DEFAULT_SCOPE,
    _set_active,
    activate,
    active_version,
    check_scope,
    get_version,
)

ARM_ACTIVE = "active"
ARM_CANARY = "canary"


@dataclass(frozen=True)
class Canary:
    scope: str
    version: ModelVersion
    share: float


def arm_for(scope: str, version_id: str, key: str, share: float) -> str:
    """The arm a routing key gets: deterministic, uniform in [0, 1) over keys, canary below `share`."""
    digest = hashlib.sha256(f"{scope}|{version_id}|{key}".encode()).digest()
    return ARM_CANARY if int.from_bytes(digest[:8], "big") / 2**64 < share else ARM_ACTIVE


def get_canary(store: Store, scope: str = DEFAULT_SCOPE) -> Canary | None:
    with store.session() as s:
        row = s.get(ModelCanaryRow, scope)
        if row is None:
            return None
        vid, share = row.model_version_id, row.share
    return Canary(scope, get_version(store, vid), share)


def canaries(store: Store) -> dict[str, tuple[str, float]]:
    """Every running canary: scope -> (candidate version id, share)."""
    with store.session() as s:
        return {r.scope: (r.model_version_id, r.share) for r in s.scalars(select(ModelCanaryRow))}


def start_canary(store: Store, ref: str, share: float, scope: str = DEFAULT_SCOPE) -> Canary:
    """Let version `ref` answer `share` (0 < share < 1) of `scope`'s alias requests; replaces a running canary."""
    check_scope(scope)
    if not 0 < share < 1:
        raise ConfigError(f"canary share {share}: give a fraction between 0 and 1 (e.g. 0.1); "
                          "to switch every request, use `lextune models promote` or `models activate`")
    version = get_version(store, ref)
    if version.kind != "local":
        raise ConfigError(f"{version.name} is a remote version: it is not served here, so it cannot be a canary")
    current = active_version(store, scope)
    if current is not None and current.id == version.id:
        raise ConfigError(f"{version.name} is already the active version of scope {scope}")
    with store.session() as s:
        row = s.get(ModelCanaryRow, scope)
        replaced = row.model_version_id if row else None
        if row is None:
            s.add(ModelCanaryRow(scope=scope, model_version_id=version.id, share=share, started_at=utcnow()))
        else:
            row.model_version_id, row.share, row.started_at = version.id, share, utcnow()
        audit.record(s, "model.canary.start", scope, {"candidate": version.id, "share": share,
                                                      "active": current.id if current else None,
                                                      "replaced": replaced})
    return Canary(scope, version, share)


def end_canary(store: Store, scope: str = DEFAULT_SCOPE, reason: str = "stopped") -> str | None:
    """Stop the scope's canary (every request goes to the active version); returns its candidate id."""
    with store.session() as s:
        row = s.get(ModelCanaryRow, scope)
        if row is None:
            return None
        vid = row.model_version_id
        s.delete(row)
        audit.record(s, "model.canary.end", scope, {"candidate": vid, "reason": reason})
    return vid


def promote(store: Store, scope: str = DEFAULT_SCOPE, ref: str | None = None) -> ModelVersion:
    """Make the scope's canary candidate (or `ref`) the active version; its canary ends."""
    if ref is None:
        canary = get_canary(store, scope)
        if canary is None:
            raise ConfigError(f"scope {scope} has no canary to promote; name the version "
                              "(lextune models promote VERSION) or start one with `lextune models canary`")
        ref = canary.version.id
    version = activate(store, ref, scope=scope, action="promote")
    end_canary(store, scope, reason="promoted")  # a canary of another version than the one promoted
    return version


def rollback(store: Store, scope: str = DEFAULT_SCOPE) -> tuple[str | None, str | None]:
    """Return `scope` to the version active before the current one, ending any canary.

    Returns (from, to) version ids (None: the stock model). The newest history entry that activated the
    current version, and was not undone yet, names the one before it; that entry is marked undone, so the
    next rollback steps further back. A store whose history predates it falls back to the audit trail.
    """
    check_scope(scope)
    ended = end_canary(store, scope, reason="rollback")
    with store.session() as s:
        row = s.get(ActiveModelRow, scope)
        current = row.model_version_id if row else None
        entries = s.scalars(select(ModelActivationRow).where(ModelActivationRow.scope == scope,
                                                             ModelActivationRow.undone.is_(False),
                                                             ModelActivationRow.action != "rollback")
                            .order_by(ModelActivationRow.id.desc())).all()
        entry = next((e for e in entries if e.model_version_id == current), None)
        if entry is not None:
            entry.undone = True
            target, found = entry.previous_version_id, True
        else:
            target, found = _from_audit(s, scope, current)
    if not found:
        if ended:
            return current, current  # only the canary was there to undo
        raise ConfigError(f"scope {scope}: no earlier activation to roll back to")
    _set_active(store, target, scope, action="rollback")
    with store.session() as s:
        audit.record(s, "model.rollback", scope, {"from": current, "to": target, "canary_ended": ended})
    return current, target


def _from_audit(s, scope: str, current: str | None) -> tuple[str | None, bool]:
    """The version before `current` from the audit trail (activations from before the history table)."""
    rows = s.scalars(select(AuditEventRow).where(AuditEventRow.action.in_(("model.activate", "model.stock")),
                                                 AuditEventRow.target == scope)
                     .order_by(AuditEventRow.id.desc()).limit(200))
    for r in rows:
        d = r.details or {}
        if d.get("to") == current and "via" not in d:
            return d.get("from"), True
    return None, False


def history(store: Store, scope: str = DEFAULT_SCOPE) -> list[dict]:
    """The scope's activation history, oldest first."""
    with store.session() as s:
        return [{"at": r.created_at.isoformat(), "action": r.action, "to": r.model_version_id,
                 "from": r.previous_version_id, "undone": r.undone}
                for r in s.scalars(select(ModelActivationRow).where(ModelActivationRow.scope == scope)
                                   .order_by(ModelActivationRow.id))]
