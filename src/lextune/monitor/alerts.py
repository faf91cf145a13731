"""Raising alerts, once each: a log line, an audit row (`monitor.alert`, numbers only), one webhook POST.

An alert is identified by (metric, the week it is about, direction: "up" or "down"). It is raised once:
later runs (`lextune monitor drift` from cron, every hour) that see the same crossing mark it
`"new": false` in the report and raise nothing, unless its value has worsened beyond the value it was
last raised with by `realert_margin` (relative: 0.25 = a quarter further), or it cleared in between (a
run saw the week back under the threshold: audit row `monitor.alert_cleared`) and crossed again, or the
webhook did not take it when it was raised (the audit row says `"delivered": false`) and a webhook is given
now. The state is the store's own audit trail, so it is per tenant and survives restarts; `realert=True`
(`--realert`) raises every current crossing regardless. Two runs at the very same moment may both raise one.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from lextune.core import audit
from lextune.core.tables import AuditEventRow

ALERT = "monitor.alert"
CLEARED = "monitor.alert_cleared"
REALERT_MARGIN = 0.25  # when the report carries no thresholds (Thresholds.realert_margin's default)
log = logging.getLogger("lextune.monitor")
_AUDITED = ("metric", "week", "direction", "value", "reference", "threshold")  # never the text of a question
_KEY = ("metric", "week", "direction")
Key = tuple[str, str, str]


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def alert_key(a: dict[str, Any]) -> Key:
    """(metric, week, direction) of an alert or of its audit row."""
    direction = a.get("direction")
    if direction not in ("up", "down"):  # rows audited before alerts had one: the side of the reference
        v, r = a.get("value"), a.get("reference")
        direction = "down" if _num(v) and _num(r) and v < r else "up"
    return str(a.get("metric")), str(a.get("week")), direction


def _week_start(week: str) -> datetime | None:
    try:
        year, w = week.split("-W")
        return datetime.fromisocalendar(int(year), int(w), 1).replace(tzinfo=UTC)
    except ValueError:
        return None


def alert_state(store: Any, week: str) -> dict[Key, dict[str, Any]]:
    """The alerts about `week` raised and not cleared since: the value each was last raised with, and whether
    the webhook took it then (None: no webhook)."""
    q = select(AuditEventRow.action, AuditEventRow.details).where(AuditEventRow.action.in_((ALERT, CLEARED)))
    start = _week_start(week)
    if start is not None:  # an alert about a week is raised during it or later (earlier rows: other weeks)
        q = q.where(AuditEventRow.ts >= min(start, datetime.now(UTC)))
    state: dict[Key, dict[str, Any]] = {}
    with store.session() as s:
        for action, details in s.execute(q.order_by(AuditEventRow.id)):
            d = details or {}
            if d.get("week") != week:
                continue
            if action == ALERT:
                state[alert_key(d)] = {"value": d.get("value"), "delivered": d.get("delivered")}
            else:
                state.pop(alert_key(d), None)
    return state


def worse(value: Any, last: Any, direction: str, margin: float) -> bool:
    """`value` further from normal than `last` (the value last raised) by more than `margin` (relative)."""
    if not _num(last):
        return True  # nothing to compare with: raise
    if not _num(value):
        return False
    if direction == "down":
        return value < last and value * (1 + margin) <= last
    return value > last and value >= last * (1 + margin)


def mark_new(store: Any, report: dict[str, Any], realert: bool = False, webhook: bool = False) -> list[dict[str, Any]]:
    """Mark each alert of the report `"new"` (to raise now) or not (raised already), with `last_value`
    (the value it was last raised with, None if never); set `report["cleared"]` to the alerts of the week
    raised before that no longer cross. `webhook`: one is given, so an alert it did not take is raised
    again. Returns the new alerts."""
    week = report["latest_week"]
    margin = (report.get("thresholds") or {}).get("realert_margin", REALERT_MARGIN)
    state = alert_state(store, week)
    current = set()
    for a in report["alerts"]:
        key = alert_key(a)
        current.add(key)
        last = state.get(key)
        a["new"] = (realert or last is None or worse(a.get("value"), last["value"], key[2], margin)
                    or (webhook and last["delivered"] is False))
        a["last_value"] = last["value"] if last else None
    report["cleared"] = [dict(zip(_KEY, k, strict=True)) for k in state if k not in current]
    return [a for a in report["alerts"] if a["new"]]


def record_alerts(store: Any, alerts: list[dict[str, Any]], cleared: list[dict[str, Any]] | None = None,
                  delivered: bool | None = None) -> None:
    """A log line and an audit row for each alert raised (and each cleared one); `delivered`: whether the
    webhook took the alerts (None: none was given)."""
    cleared = cleared or []
    for a in alerts:
        log.warning("drift alert: %s", a["message"])
    for c in cleared:
        log.info("drift alert cleared: %s %s (%s)", c["metric"], c["direction"], c["week"])
    if not alerts and not cleared:
        return
    with store.session() as s:
        for a in alerts:
            audit.record(s, ALERT, a["metric"], {k: a.get(k) for k in _AUDITED}
                         | {"delivered": delivered, "source": "drift"})
        for c in cleared:
            audit.record(s, CLEARED, c["metric"], {k: c.get(k) for k in _KEY} | {"source": "drift"})


def post_webhook(url: str, report: dict[str, Any], timeout: float = 10.0,
                 alerts: list[dict[str, Any]] | None = None) -> str | None:
    """POST the alerts (JSON; default: the report's new ones) to `url`; None when it answered 2xx, else what
    went wrong (never raises)."""
    import httpx

    if alerts is None:
        alerts = [a for a in report["alerts"] if a.get("new", True)]
    payload = {"source": "lextune", "kind": "drift", "week": report["latest_week"],
               "alerts": [{k: a.get(k) for k in (*_AUDITED, "message")} for a in alerts]}
    try:
        r = httpx.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as e:
        return f"webhook {url}: {type(e).__name__}: {e}"
    return None if r.is_success else f"webhook {url}: HTTP {r.status_code}"


def raise_alerts(store: Any, report: dict[str, Any], webhook: str | None = None,
                 realert: bool = False) -> str | None:
    """Raise the report's new alerts (see the module's docstring): one POST (when configured), then a log
    line and an audit row each; repeats are only marked `"new": false` in the report. The webhook's error,
    if any (the alerts it did not take are raised again by the next run given a webhook)."""
    new = mark_new(store, report, realert, webhook=bool(webhook))
    for a in report["alerts"]:
        if not a["new"]:
            log.info("drift alert already raised (not again): %s", a["message"])
    error = post_webhook(webhook, report, alerts=new) if webhook and new else None
    if error:
        log.error("%s", error)
    record_alerts(store, new, report["cleared"], delivered=(error is None) if webhook and new else None)
    return error
