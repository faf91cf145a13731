"""Every served answer leaves an audit row: who asked, when, which model version, which passages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from lextune.core import audit
from lextune.core.store import Store
from lextune.core.tables import AuditEventRow

SERVED = "serve.answer"


def record_served(store: Store, request_id: str, route: str, trace: dict[str, Any], client: str | None,
                  user: str | None, facts: dict[str, Any] | None = None, question: str | None = None) -> None:
    """The audit row of one answer. `facts` (monitor/facts.py: lengths, latency_ms, refused, not_in_documents)
    join its details; `question` never does: it goes sealed to the monitor's question log (topic drift)."""
    details = {"request_id": request_id, "route": route, "client": client, "user": user,
               **{k: trace.get(k) for k in ("model_version", "fine_tuned", "scope", "adapter")},
               "retrieved": trace.get("retrieved", []),
               "cited": [c.get("chunk_id") for c in trace.get("citations", []) if c.get("supported")],
               **(facts or {})}
    with store.session() as s:
        audit.record(s, SERVED, trace.get("model_version_id") or trace.get("model_version") or "", details)
    if question:
        from lextune.monitor.questions import record_question

        record_question(store, request_id, question)


def served_answers(store: Store, limit: int = 50, version: str | None = None) -> list[dict[str, Any]]:
    """Newest first: the audit rows of served answers (optionally one model version's)."""
    with store.session() as s:
        q = select(AuditEventRow).where(AuditEventRow.action == SERVED).order_by(AuditEventRow.id.desc())
        rows = []
        for r in s.scalars(q):
            if version and version not in (r.target, (r.details or {}).get("model_version")):
                continue
            rows.append({"id": r.id, "ts": r.ts.isoformat(), "actor": r.actor, "target": r.target, **r.details})
            if len(rows) >= limit:
                break
        return rows
