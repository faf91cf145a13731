"""Verify the audit trail end to end: row MACs and links, the head row, and the anchor outside the database."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from lextune.core.audit import HEAD_ID, check_rows
from lextune.core.audit_anchor import anchor_ok, read_anchor
from lextune.core.audit_key import AuditKeyError, key_id, load_key
from lextune.core.tables import AuditEventRow, AuditHeadRow

if TYPE_CHECKING:
    from lextune.core.store import Store

HEAD_TABLE = AuditHeadRow.__table__
EVENTS_TABLE = AuditEventRow.__table__

@dataclass
class Problem:
    """What is wrong, and where: the first bad row (id, action) when a row is to blame."""

    what: str
    id: int | None = None
    action: str | None = None

    def __str__(self) -> str:
        where = f"row {self.id}" + (f" ({self.action})" if self.action else "") + ": " if self.id is not None else ""
        return where + self.what


@dataclass
class Verdict:
    """The outcome of verify_trail: `ok` is False when any problem was found (the first comes first)."""

    ok: bool = True
    rows: int = 0
    legacy_rows: int = 0
    last_id: int | None = None
    keyed_from: int | None = None
    anchor: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def fail(self, what: str, id: int | None = None, action: str | None = None) -> None:
        self.ok = False
        self.problems.append(Problem(what, id, action))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["problem"] = str(self.problem) if self.problem else None
        return d


def verify_trail(store: Store) -> Verdict:
    """Check every row in order, the head row and the signed anchor; never modifies anything."""
    settings, v = store.settings, Verdict()
    path = settings.audit_anchor_path
    # Read the anchor, then the head, then the rows: each is at least as new as the one before, so
    # appends running meanwhile only ever add rows past what was read first.
    anchor = read_anchor(path)
    try:
        key = load_key(settings)
    except AuditKeyError as e:
        v.fail(f"audit key unusable: {e}")
        return v
    v.anchor = {"path": str(path), "status": "missing" if anchor is None else "present"}
    with store.engine.connect() as conn:
        head = conn.execute(select(HEAD_TABLE).where(HEAD_TABLE.c.id == HEAD_ID)).first()
        good_anchor = None
        if anchor is not None and key is not None:
            if not anchor_ok(key, anchor):
                other = anchor.get("key_id")
                hint = f" (signed with key {other}, this key is {key_id(key)})" if other and other != key_id(key) else ""
                v.fail(f"anchor MAC invalid{hint}: {path}")
                v.anchor["status"] = "invalid"
            else:
                good_anchor = anchor
                v.anchor.update(status="ok", count=anchor["count"], last_id=anchor["last_id"])
        keyed_from = head.keyed_from if head is not None else None
        if good_anchor is not None:
            if keyed_from is not None and keyed_from != good_anchor["keyed_from"]:
                v.fail(f"keyed boundary moved: head says id {keyed_from}, anchor says {good_anchor['keyed_from']}")
            keyed_from = good_anchor["keyed_from"]
        if keyed_from is None:  # no head and no anchor: whatever rows there are count as legacy
            keyed_from = (conn.execute(select(EVENTS_TABLE.c.id).order_by(EVENTS_TABLE.c.id.desc())).scalar() or 0) + 1
        v.keyed_from = keyed_from
        seen: dict[int, tuple[int, str]] = {}  # id -> (position, MAC), for the head's and the anchor's rows
        marks = {head.last_id if head is not None else -1, good_anchor["last_id"] if good_anchor else -1}
        first_bad = None
        for r, problem in check_rows(conn.execute(select(EVENTS_TABLE).order_by(EVENTS_TABLE.c.id)), key, keyed_from):
            v.rows += 1
            v.legacy_rows += r.id < keyed_from
            v.last_id = r.id
            if r.id in marks:
                seen[r.id] = (v.rows, r.hash)
            if problem and first_bad is None:
                first_bad = Problem(problem, r.id, r.action)
        if key is None and (anchor is not None or v.rows > v.legacy_rows):
            v.fail(f"audit key missing ({settings.audit_key_path}): the trail has HMAC'd rows; "
                   "set LEXTUNE_AUDIT_KEY_FILE or LEXTUNE_AUDIT_KEY to the key it was written with")
            return v
        if first_bad is not None:
            v.ok = False
            v.problems.insert(0, first_bad)
    _check_head(v, head, seen)
    if good_anchor is not None:
        _check_anchor(v, good_anchor, seen)
    elif anchor is None and v.rows > v.legacy_rows:
        v.fail(f"anchor missing: {path} (the trail has {v.rows - v.legacy_rows} HMAC'd rows)")
    return v


def _check_head(v: Verdict, head: Any, seen: dict[int, tuple[int, str]]) -> None:
    if head is None:
        if v.rows:
            v.fail("head row missing from audit_head")
        return
    if head.n_rows == 0 and head.last_id == 0:
        return
    if seen.get(head.last_id) != (head.n_rows, head.last_mac):
        v.fail(f"head row does not match the rows: it says count {head.n_rows}, last id {head.last_id}; "
               f"the table has {v.rows} rows, last id {v.last_id}")


def _check_anchor(v: Verdict, anchor: dict[str, Any], seen: dict[int, tuple[int, str]]) -> None:
    count, last_id = anchor["count"], anchor["last_id"]
    at = seen.get(last_id)
    if at is None:
        after = v.last_id if v.last_id is not None else 0
        v.fail(f"rows missing after id {after} (anchor says count {count}, last id {last_id}; "
               f"the table has {v.rows})", None)
    elif at != (count, anchor["last_mac"]):
        v.fail(f"the row at the anchor (id {last_id}) is not the anchored one: rows were removed or replaced "
               f"(anchor says count {count}, the table has {at[0]} up to it)", last_id)
    elif v.rows > count:
        v.warnings.append(f"{v.rows - count} row(s) after the anchor (id > {last_id}) verify but are not anchored yet "
                          "(a crash or an unwritable anchor file between commit and anchor write); "
                          "the next append re-anchors")
