"""The review queue's filters (status, task, matter, confidence range, order), read from a query string and
carried from page to page: the queue, an item's previous / next links and the item a decision leads to."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import desc, select

from lextune.core.tables_review import REVIEW_STATES, REVIEW_TASKS, ReviewItemRow

SORTS = {"newest": "newest first", "confidence": "least confident first"}


@dataclass(frozen=True)
class Filters:
    status: str = "pending"
    task: str = ""
    matter: str = ""
    min_conf: float | None = None
    max_conf: float | None = None
    sort: str = "newest"

    @classmethod
    def parse(cls, q: Mapping[str, str]) -> Filters:
        status = q.get("status", "pending")
        return cls(status=status if status in (*REVIEW_STATES, "all") else "pending",
                   task=q.get("task", "") if q.get("task", "") in REVIEW_TASKS else "",
                   matter=q.get("matter", "")[:500], min_conf=_number(q.get("min_conf")),
                   max_conf=_number(q.get("max_conf")), sort=q.get("sort") if q.get("sort") in SORTS else "newest")

    def query(self) -> str:
        pairs = [(k, v) for k, v in [("status", self.status if self.status != "pending" else ""), ("task", self.task),
                                     ("matter", self.matter), ("min_conf", fmt(self.min_conf)),
                                     ("max_conf", fmt(self.max_conf)),
                                     ("sort", self.sort if self.sort != "newest" else "")] if v]
        return urlencode(pairs)

    def statement(self, columns: Any = ReviewItemRow):
        stmt = select(columns)
        if self.status != "all":
            stmt = stmt.where(ReviewItemRow.status == self.status)
        if self.task:
            stmt = stmt.where(ReviewItemRow.task == self.task)
        if self.matter:
            stmt = stmt.where(ReviewItemRow.matter == self.matter)
        if self.min_conf is not None:
            stmt = stmt.where(ReviewItemRow.confidence >= self.min_conf)
        if self.max_conf is not None:
            stmt = stmt.where(ReviewItemRow.confidence <= self.max_conf)
        if self.sort == "confidence":
            return stmt.order_by(ReviewItemRow.confidence.asc().nulls_last(), desc(ReviewItemRow.created_at),
                                 ReviewItemRow.id)
        return stmt.order_by(desc(ReviewItemRow.created_at), ReviewItemRow.id)


def _number(text: str | None) -> float | None:
    """A confidence bound given in percent, as the filter form shows it (0..100) -> 0..1; None if not a number."""
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    if value is None or not math.isfinite(value):
        return None
    return min(1.0, max(0.0, value / 100))


def fmt(value: float | None) -> str:
    return "" if value is None else f"{value * 100:g}"


def url(path: str, filters: Filters) -> str:
    q = filters.query()
    return path + (f"?{q}" if q else "")

