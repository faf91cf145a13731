"""Raising alerts: a log line each, an audit row each (`monitor.alert`, numbers only), one webhook POST."""

from __future__ import annotations

import logging
from typing import Any

from lextune.core import audit

ALERT = "monitor.alert"
log = logging.getLogger("lextune.monitor")
_AUDITED = ("metric", "week", "value", "reference", "threshold")  # never the message text of a question


def record_alerts(store: Any, alerts: list[dict[str, Any]]) -> None:
    for a in alerts:
        log.warning("drift alert: %s", a["message"])
    if not alerts:
        return
    with store.session() as s:
        for a in alerts:
            audit.record(s, ALERT, a["metric"], {k: a.get(k) for k in _AUDITED} | {"source": "drift"})


def post_webhook(url: str, report: dict[str, Any], timeout: float = 10.0) -> str | None:
    """POST the alerts (JSON) to `url`; None when it answered 2xx, else what went wrong (never raises)."""
    import httpx

    payload = {"source": "lextune", "kind": "drift", "week": report["latest_week"],
               "alerts": [{k: a.get(k) for k in (*_AUDITED, "message")} for a in report["alerts"]]}
    try:
        r = httpx.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as e:
        return f"webhook {url}: {type(e).__name__}: {e}"
    return None if r.is_success else f"webhook {url}: HTTP {r.status_code}"


def raise_alerts(store: Any, report: dict[str, Any], webhook: str | None = None) -> str | None:
    """Log, audit and (when configured and there are alerts) POST; the webhook's error, if any."""
    record_alerts(store, report["alerts"])
    if webhook and report["alerts"]:
        error = post_webhook(webhook, report)
        if error:
            log.error("%s", error)
        return error
    return None
