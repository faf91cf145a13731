"""A database from before the keyed audit trail (plain sha256 chain) keeps its rows and verifies."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from lextune.core import audit
from lextune.core.config import Settings
from lextune.core.store import Store
from lextune.core.tables import AuditEventRow


def _legacy_db(home, n: int = 3) -> list[str]:
    """audit_events as lextune wrote it before: sha256 over [prev_hash, ts, actor, action, target, details]."""
    home.mkdir(parents=True)
    db = sqlite3.connect(home / "lextune.db")
    db.execute("""CREATE TABLE audit_events (id INTEGER NOT NULL PRIMARY KEY, ts DATETIME NOT NULL,
        actor VARCHAR(64) NOT NULL, action VARCHAR(64) NOT NULL, target TEXT NOT NULL, details JSON NOT NULL,
        prev_hash VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL)""")
    prev, hashes = audit.GENESIS, []
    t0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    for i in range(n):
        ts = t0 + timedelta(minutes=i)
        details = {"chunks": i}
        h = audit.legacy_digest(prev, ts, "alice", "ingest", f"doc-{i}", details)
        db.execute("INSERT INTO audit_events VALUES (?, ?, 'alice', 'ingest', ?, ?, ?, ?)",
                   (i + 1, ts.strftime("%Y-%m-%d %H:%M:%S.%f"), f"doc-{i}", f'{{"chunks": {i}}}', prev, h))
        prev = h
        hashes.append(h)
    db.commit()
    db.close()
    return hashes


def test_upgrade_keeps_legacy_rows_and_pins_them_with_the_first_keyed_row(tmp_path):
    home = tmp_path / "home"
    hashes = _legacy_db(home)
    store = Store(Settings(home=home))
    verdict = audit.verify_trail(store)  # not appended to yet: legacy rows only, no anchor needed
    assert verdict.ok and (verdict.rows, verdict.legacy_rows, verdict.keyed_from) == (3, 3, 4)
    with store.session() as s:
        audit.record(s, "model.activate", "default", {"to": "mv-1"})
    with store.session() as s:
        rows = s.scalars(select(AuditEventRow).order_by(AuditEventRow.id)).all()
        assert audit.verify_chain(s) == []
    assert [r.action for r in rows] == ["ingest"] * 3 + ["audit.keyed", "model.activate"]
    keyed = rows[3]
    assert (keyed.id, keyed.prev_hash) == (4, hashes[-1])
    assert keyed.details["legacy_rows"] == 3 and keyed.details["legacy_head"] == hashes[-1]
    verdict = audit.verify_trail(store)
    assert verdict.ok, verdict.problems
    assert (verdict.rows, verdict.legacy_rows, verdict.anchor["count"]) == (5, 3, 5)
    store.close()


def test_legacy_rows_rewritten_after_the_upgrade_are_detected(tmp_path):
    home = tmp_path / "home"
    _legacy_db(home)
    store = Store(Settings(home=home))
    with store.session() as s:
        audit.record(s, "eval", "run-1")
    with store.engine.begin() as conn:  # rewrite legacy row 2 and recompute the sha256 chain through row 3
        conn.execute(text("DROP TRIGGER audit_no_update"))
        rows = conn.execute(select(AuditEventRow.__table__).where(AuditEventRow.id <= 3)
                            .order_by(AuditEventRow.id)).all()
        prev = rows[0].hash
        for r in rows[1:]:
            h = audit.legacy_digest(prev, r.ts, r.actor, r.action, "doc-forged", r.details)
            conn.execute(text("UPDATE audit_events SET target = 'doc-forged', prev_hash = :p, hash = :h "
                              "WHERE id = :i"), {"p": prev, "h": h, "i": r.id})
            prev = h
    verdict = audit.verify_trail(store)
    assert not verdict.ok
    assert (verdict.problem.id, verdict.problem.action) == (4, "audit.keyed")
    assert verdict.problem.what.startswith("link broken")
    store.close()


def test_a_legacy_row_edited_before_the_upgrade_is_reported(tmp_path):
    home = tmp_path / "home"
    _legacy_db(home)
    db = sqlite3.connect(home / "lextune.db")
    db.execute("UPDATE audit_events SET actor = 'mallory' WHERE id = 2")
    db.commit()
    db.close()
    store = Store(Settings(home=home))
    verdict = audit.verify_trail(store)
    assert not verdict.ok and str(verdict.problem) == "row 2 (ingest): hash mismatch (legacy sha256 row)"
    store.close()
