"""Served answers (audit rows), their questions (sealed log) and reviewer decisions, by ISO week."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from lextune.core.tables import AuditEventRow
from lextune.core.tables_review import ReviewItemRow
from lextune.monitor.questions import read_questions, week_of
from lextune.serve.trace import SERVED


@dataclass
class Week:
    label: str
    start: datetime
    answers: list[dict[str, Any]] = field(default_factory=list)  # the audit rows' details
    questions: list[str] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)  # review status -> count decided this week


def week_starts(now: datetime, n: int) -> list[datetime]:
    """Mondays 00:00 UTC of the last `n` ISO weeks, oldest first, the week holding `now` last."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return [monday - timedelta(weeks=k) for k in range(n - 1, -1, -1)]


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def collect(store: Any, now: datetime, n_weeks: int) -> tuple[list[Week], int]:
    """The last `n_weeks` weeks' traffic; also how many sealed question lines did not open."""
    starts = week_starts(now, n_weeks)
    weeks = {week_of(s): Week(week_of(s), s) for s in starts}
    first = starts[0]
    with store.session() as s:
        q = select(AuditEventRow.ts, AuditEventRow.details).where(
            AuditEventRow.action == SERVED, AuditEventRow.ts >= first).order_by(AuditEventRow.id)
        for ts, details in s.execute(q):
            if (w := weeks.get(week_of(_aware(ts)))) is not None:
                w.answers.append(details or {})
        # Only the decision columns: the sealed text of the items is never opened here.
        q2 = select(ReviewItemRow.status, ReviewItemRow.reviewed_at).where(
            ReviewItemRow.reviewed_at.is_not(None), ReviewItemRow.reviewed_at >= first)
        for status, at in s.execute(q2):
            if status != "pending" and (w := weeks.get(week_of(_aware(at)))) is not None:
                w.decisions[status] = w.decisions.get(status, 0) + 1
    questions, bad = read_questions(store, list(weeks))
    for label, qs in questions.items():
        weeks[label].questions = qs
    return list(weeks.values()), bad
