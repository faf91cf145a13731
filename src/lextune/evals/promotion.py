"""The promotion gate at activation: a version goes live only on a passing comparison (or --force, logged)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from lextune.core import audit
from lextune.core.store import Store
from lextune.core.tables import EvalComparisonRow


def save_comparison(store: Store, report: dict) -> str:
    """Store a comparison report; returns its id (also written into the report)."""
    cid = "cmp-" + uuid.uuid4().hex[:12]
    report["id"] = cid
    with store.session() as s:
        s.add(EvalComparisonRow(id=cid, a_version_id=report["a"].get("version_id"),
                                b_version_id=report["b"].get("version_id"),
                                passed=bool(report["verdict"]["passed"]), report=report))
        audit.record(s, "eval.compare", cid, {"a": report["a"]["label"], "b": report["b"]["label"],
                                               "passed": bool(report["verdict"]["passed"])})
    return cid


def latest_comparison(store: Store, version_id: str) -> dict | None:
    """The newest comparison in which `version_id` was the candidate (B)."""
    with store.session() as s:
        row = s.scalars(select(EvalComparisonRow).where(EvalComparisonRow.b_version_id == version_id)
                        .order_by(EvalComparisonRow.created_at.desc())).first()
        return dict(row.report) if row else None
