"""The audit log: an append-only, hash-chained record of who did what to which record."""

from __future__ import annotations

import getpass
import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lextune.core.records import utcnow
from lextune.core.tables import AuditEventRow

GENESIS = "0" * 64


def _digest(prev_hash: str, ts: str, actor: str, action: str, target: str, details: Any) -> str:
    payload = json.dumps([prev_hash, ts, actor, action, target, details], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def current_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def record(
    session: Session, action: str, target: str = "", details: dict[str, Any] | None = None
) -> AuditEventRow:
    """Append one event inside the caller's transaction, chained to the previous event."""
    last = session.scalars(select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(1)).first()
    prev = last.hash if last else GENESIS
    ts = utcnow()
    actor = current_actor()
    details = details or {}
    row = AuditEventRow(
        ts=ts, actor=actor, action=action, target=target, details=details, prev_hash=prev,
        hash=_digest(prev, ts.isoformat(), actor, action, target, details),
    )
    session.add(row)
    session.flush()
    return row


def verify_chain(session: Session) -> list[int]:
    """Return ids of events whose hash or link does not match (empty list: log intact)."""
    bad: list[int] = []
    prev = GENESIS
    for ev in session.scalars(select(AuditEventRow).order_by(AuditEventRow.id)):
        ts = ev.ts.replace(tzinfo=utcnow().tzinfo) if ev.ts.tzinfo is None else ev.ts
        expected = _digest(prev, ts.isoformat(), ev.actor, ev.action, ev.target, ev.details)
        if ev.prev_hash != prev or ev.hash != expected:
            bad.append(ev.id)
        prev = ev.hash
    return bad
