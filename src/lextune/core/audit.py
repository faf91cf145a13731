"""The audit log: an append-only, HMAC-chained record of who did what to which record.

Each row's `hash` is HMAC-SHA256, under a key kept outside the database (core/audit_key.py), over the
previous row's MAC, the row's id and its fields. Appends are serialised through the one-row audit_head
table, updated in the caller's transaction; after the commit a signed anchor of the head is written
outside the database (core/audit_anchor.py). Rows from before the keyed scheme (a plain sha256 chain)
are kept, checked as such, and pinned by the first keyed row (`audit.keyed`). See docs/audit.md.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Engine, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lextune.core.audit_anchor import advance_anchor
from lextune.core.audit_key import AuditKeyError, key_id, load_key, row_mac
from lextune.core.config import Settings, get_settings
from lextune.core.records import utcnow
from lextune.core.tables import AuditEventRow, AuditHeadRow

if TYPE_CHECKING:
    from lextune.core.audit_verify import Verdict
    from lextune.core.store import Store

GENESIS = "0" * 64
HEAD_ID = 1
SCHEME = "hmac-sha256-v1"
SETTINGS_INFO = "lextune_settings"  # Session.info key: the Store's settings (where the key and anchor live)
_DIRTY = "lextune_audit_appended"
_LISTENING = "lextune_audit_listening"
_HEAD = AuditHeadRow.__table__
_EVENTS = AuditEventRow.__table__


class Head(NamedTuple):
    n_rows: int
    last_id: int
    last_mac: str
    keyed_from: int


def legacy_digest(prev_hash: str, ts: datetime, actor: str, action: str, target: str, details: Any) -> str:
    """The unkeyed sha256 of rows written before the keyed scheme (kept to check old databases)."""
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
    payload = json.dumps([prev_hash, ts.isoformat(), actor, action, target, details], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


# Who acts in this context (a request's API key user, the CLI's configured user); unset: the OS user.
_ACTOR: ContextVar[str | None] = ContextVar("lextune_audit_actor", default=None)


_PROCESS_ACTOR: list[str | None] = [None]


def set_actor(actor: str | None) -> None:
    """For the CLI process: every audit row it writes, from any thread, names this actor."""
    _PROCESS_ACTOR[0] = actor


def set_context_actor(actor: str | None) -> None:
    """For one request (its context only: concurrent requests never see each other's actor)."""
    _ACTOR.set(actor)


def current_actor() -> str:
    if (actor := _ACTOR.get() or _PROCESS_ACTOR[0]) is not None:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def _settings(session: Session) -> Settings:
    return session.info.get(SETTINGS_INFO) or get_settings()


def _legacy_head(conn: Any) -> dict[str, Any]:
    """A head for the rows already there: all of them count as legacy; keyed rows start after them."""
    n = conn.execute(select(func.count()).select_from(_EVENTS)).scalar_one()
    last = conn.execute(select(_EVENTS.c.id, _EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)).first()
    last_id = last.id if last else 0
    return {"id": HEAD_ID, "n_rows": n, "last_id": last_id, "last_mac": last.hash if last else GENESIS,
            "keyed_from": last_id + 1}


def ensure_head(engine: Engine) -> None:
    """Create the head row of a new or pre-HMAC database (idempotent; a concurrent creator wins)."""
    try:
        with engine.begin() as conn:
            if conn.execute(select(_HEAD.c.id).where(_HEAD.c.id == HEAD_ID)).first() is None:
                conn.execute(insert(_HEAD).values(**_legacy_head(conn)))
    except IntegrityError:
        pass


def _lock_head(session: Session) -> Head:
    # The UPDATE comes first: it takes the lock (PostgreSQL: the row; SQLite: the database) under
    # which the previous MAC is read, so two writers never chain to the same row.
    locked = session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(n_rows=_HEAD.c.n_rows))
    if locked.rowcount == 0:  # a database Store() did not open; ensure_head normally made this row
        session.execute(insert(_HEAD).values(**_legacy_head(session)))
    cols = (_HEAD.c.n_rows, _HEAD.c.last_id, _HEAD.c.last_mac, _HEAD.c.keyed_from)
    return Head(*session.execute(select(*cols).where(_HEAD.c.id == HEAD_ID)).one())


def _key_for_append(settings: Settings, head: Head) -> bytes:
    key = load_key(settings)
    if key is None:
        if head.last_id >= head.keyed_from or settings.audit_anchor_path.exists():
            raise AuditKeyError(
                f"the audit trail has HMAC'd rows but its key is missing ({settings.audit_key_path}); point "
                "LEXTUNE_AUDIT_KEY_FILE (or LEXTUNE_AUDIT_KEY) at the key it was written with "
                "(a new key is only made for a trail without HMAC'd rows)")
        key = load_key(settings, create=True)
        assert key is not None
    return key


def _append(session: Session, key: bytes, head: Head, action: str, target: str,
            details: dict[str, Any]) -> tuple[AuditEventRow, Head]:
    row_id = head.last_id + 1
    ts, actor = utcnow(), current_actor()
    details = json.loads(json.dumps(details, default=str))  # exactly what the JSON column gives back
    mac = row_mac(key, head.last_mac, row_id, ts, actor, action, target, details)
    row = AuditEventRow(id=row_id, ts=ts, actor=actor, action=action, target=target, details=details,
                        prev_hash=head.last_mac, hash=mac)
    session.add(row)
    session.flush()
    session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID)
                    .values(n_rows=head.n_rows + 1, last_id=row_id, last_mac=mac))
    return row, Head(head.n_rows + 1, row_id, mac, head.keyed_from)


def record(
    session: Session, action: str, target: str = "", details: dict[str, Any] | None = None
) -> AuditEventRow:
    """Append one event inside the caller's transaction, chained by HMAC to the previous event."""
    settings = _settings(session)
    head = _lock_head(session)
    key = _key_for_append(settings, head)
    if head.n_rows and head.last_id < head.keyed_from:  # first keyed row after legacy ones: pin them
        _, head = _append(session, key, head, "audit.keyed", "", {
            "scheme": SCHEME, "legacy_rows": head.n_rows, "legacy_head": head.last_mac, "key_id": key_id(key)})
    row, _ = _append(session, key, head, action, target, details or {})
    _anchor_after_commit(session)
    return row


def _anchor_after_commit(session: Session) -> None:
    if not session.info.get(_LISTENING):
        event.listen(session, "after_commit", _after_commit)
        session.info[_LISTENING] = True
    session.info[_DIRTY] = True


def _after_commit(session: Session) -> None:
    # A rolled-back append leaves the flag set: the next commit then re-reads the head, which is harmless.
    if session.info.pop(_DIRTY, False):
        bind = session.get_bind()
        advance_anchor(getattr(bind, "engine", bind), _settings(session))


def check_rows(rows: Iterable[Any], key: bytes | None, keyed_from: int) -> Iterator[tuple[Any, str | None]]:
    """Each row (in id order) with what is wrong with it, or None: link, then MAC (or legacy hash)."""
    prev = GENESIS
    for r in rows:
        if r.prev_hash != prev:
            problem: str | None = "link broken: prev_hash is not the previous row's MAC"
        elif r.id < keyed_from:
            ok = r.hash == legacy_digest(prev, r.ts, r.actor, r.action, r.target, r.details)
            problem = None if ok else "hash mismatch (legacy sha256 row)"
        elif key is None:
            problem = "no audit key to check this row"
        else:
            ok = r.hash == row_mac(key, prev, r.id, r.ts, r.actor, r.action, r.target, r.details)
            problem = None if ok else "MAC mismatch"
        yield r, problem
        prev = r.hash


def verify_chain(session: Session) -> list[int]:
    """Ids of events whose MAC or link does not match (empty: the rows are intact; see verify_trail)."""
    head = session.execute(select(_HEAD.c.keyed_from).where(_HEAD.c.id == HEAD_ID)).scalar()
    if head is None:
        head = _legacy_head(session)["keyed_from"]
    key = load_key(_settings(session))
    rows = session.execute(select(_EVENTS).order_by(_EVENTS.c.id))
    return [r.id for r, problem in check_rows(rows, key, head) if problem]


def verify_trail(store: Store) -> Verdict:
    """Check the whole trail: every MAC and link, the head row, and the signed anchor outside the database."""
    from lextune.core.audit_verify import verify_trail as _verify

    return _verify(store)
