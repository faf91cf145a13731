"""The audit anchor: the trail's head (count, last id, last MAC), HMAC-signed, in a file outside the database.

Whoever can rewrite the database can drop its last rows and fix up the head table; they cannot also
move this file back unless they can write where it lives (keep it on other storage: WORM, another host).
"""

from __future__ import annotations

import hmac
import json
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from lextune.core.atomic import write_text
from lextune.core.audit_key import key_id, load_key, mac, row_mac
from lextune.core.config import Settings
from lextune.core.file_lock import exclusive
from lextune.core.records import utcnow
from lextune.core.tables import AuditEventRow, AuditHeadRow

ANCHOR_DOMAIN = "lextune-audit-anchor-v1"
FIELDS = ("count", "last_id", "last_mac", "keyed_from", "key_id", "ts")
HEAD = AuditHeadRow.__table__
EVENTS = AuditEventRow.__table__
log = logging.getLogger(__name__)


def read_anchor(path: Path) -> dict[str, Any] | None:
    """The anchor file's content; None when there is none, {} when it is not an anchor at all."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def anchor_ok(key: bytes, data: dict[str, Any]) -> bool:
    """True when the anchor is whole and its MAC was made with `key`."""
    if not all(f in data for f in FIELDS) or not isinstance(data.get("mac"), str):
        return False
    if not all(isinstance(data[f], int) for f in ("count", "last_id", "keyed_from")):
        return False
    return hmac.compare_digest(data["mac"], mac(key, ANCHOR_DOMAIN, {f: data[f] for f in FIELDS}))


def signed_anchor(key: bytes, count: int, last_id: int, last_mac: str, keyed_from: int) -> dict[str, Any]:
    body = {"count": count, "last_id": last_id, "last_mac": last_mac, "keyed_from": keyed_from,
            "key_id": key_id(key), "ts": utcnow().isoformat()}
    return {**body, "mac": mac(key, ANCHOR_DOMAIN, body)}


def write_anchor(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def _file_lock(path: Path):
    """Serialise anchor writers across processes (so the anchor only moves forward). Without fcntl
    (Windows), or where no lock file can be made, a lost race leaves the anchor a little behind (a warning,
    not a failure)."""
    return exclusive(path.with_name(f".{path.name}.lock"), unlocked_if_unwritable=True)


def advance_anchor(engine: Engine, settings: Settings) -> bool:
    """Move the anchor up to the committed head when the head descends from it; True when written.

    Runs after a commit, so it never raises: a failure leaves the anchor behind, which `verify` reports.
    """
    path = settings.audit_anchor_path
    try:
        with _file_lock(path):
            return _advance(engine, settings, path)
    except Exception as e:  # noqa: BLE001 - the append is committed: say why the anchor lags, not fail it
        log.warning("audit anchor %s not written: %s", path, type(e).__name__)
        return False


def _advance(engine: Engine, settings: Settings, path: Path) -> bool:
    key = load_key(settings)
    if key is None:
        log.warning("audit anchor %s not written: no audit key", path)
        return False
    old = read_anchor(path)
    if old is not None and not anchor_ok(key, old):
        log.warning("audit anchor %s does not verify; left as it is: run `lextune audit verify`", path)
        return False
    with engine.connect() as conn:
        head = conn.execute(select(HEAD).where(HEAD.c.id == 1)).first()
        if head is None or head.last_id < head.keyed_from:
            return False  # nothing keyed yet
        if old is not None:
            anchored = conn.execute(select(EVENTS.c.hash).where(EVENTS.c.id == old["last_id"])).scalar()
            if anchored != old["last_mac"] or head.keyed_from != old["keyed_from"]:
                log.warning("audit anchor not advanced: the database no longer holds the anchored row "
                            "(id %d); run `lextune audit verify`", old["last_id"])
                return False
            if head.n_rows <= old["count"]:
                return False  # already anchored (by this process or a concurrent one)
        top = conn.execute(select(EVENTS).where(EVENTS.c.id == head.last_id)).first()
        if top is None or top.hash != head.last_mac or not hmac.compare_digest(
            top.hash, row_mac(key, top.prev_hash, top.id, top.ts, top.actor, top.action, top.target, top.details)
        ):
            log.warning("audit anchor not advanced: the head row (id %d) does not verify; "
                        "run `lextune audit verify`", head.last_id)
            return False
    write_anchor(path, signed_anchor(key, head.n_rows, head.last_id, head.last_mac, head.keyed_from))
    return True
