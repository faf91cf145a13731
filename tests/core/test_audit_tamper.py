"""The audit trail against an attacker who can write the database file (but not the key or the anchor)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from lextune.core import audit
from lextune.core.audit_anchor import read_anchor, signed_anchor, write_anchor
from lextune.core.audit_key import AuditKeyError, row_mac
from lextune.core.tables import AuditEventRow

EVENTS = AuditEventRow.__table__
FORGED_KEY = bytes(range(32))


def _append(store, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        with store.session() as s:
            audit.record(s, "ingest", f"doc-{i}", {"chunks": i, "title": f"Contract {i}"})


def _drop_triggers(store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS audit_no_update"))
        conn.execute(text("DROP TRIGGER IF EXISTS audit_no_delete"))


def _rechain(store, digest) -> None:
    """Recompute every row's link and hash from the first row on, and fix the head: a full cover-up."""
    with store.engine.begin() as conn:
        rows = conn.execute(select(EVENTS).order_by(EVENTS.c.id)).all()
        prev = audit.GENESIS
        for r in rows:
            h = digest(prev, r)
            conn.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :i"),
                         {"p": prev, "h": h, "i": r.id})
            prev = h
        conn.execute(text("UPDATE audit_head SET last_mac = :h"), {"h": prev})


def _forged_mac(prev, r):
    return row_mac(FORGED_KEY, prev, r.id, r.ts, r.actor, r.action, r.target, r.details)


def _sha256(prev, r):
    return audit.legacy_digest(prev, r.ts, r.actor, r.action, r.target, r.details)


def _cli(*args):
    from lextune.cli import app

    return CliRunner().invoke(app, ["audit", "verify", *args])


def test_intact_trail_verifies_and_cli_exits_zero(store):
    _append(store, 5)
    verdict = audit.verify_trail(store)
    assert verdict.ok and verdict.problem is None and verdict.rows == 5 and verdict.legacy_rows == 0
    assert verdict.anchor["status"] == "ok" and verdict.anchor["count"] == 5
    result = _cli()
    assert result.exit_code == 0, result.output
    assert "audit trail intact" in result.output and "rows checked: 5" in result.output
    as_json = json.loads(_cli("--json").output)
    assert as_json["ok"] is True and as_json["rows"] == 5


@pytest.mark.parametrize("digest", [_forged_mac, _sha256], ids=["other-key", "plain-sha256"])
def test_edited_row_with_all_later_hashes_recomputed_is_detected(store, digest):
    _append(store, 6)
    _drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET details = :d WHERE id = 3"), {"d": json.dumps({"chunks": 99})})
    _rechain(store, digest)
    verdict = audit.verify_trail(store)
    assert not verdict.ok
    # Rows 1 and 2 were untouched, but their MACs were recomputed too: the first bad row is row 1.
    assert (verdict.problem.id, verdict.problem.what) == (1, "MAC mismatch")
    with store.session() as s:
        assert audit.verify_chain(s) == [1, 2, 3, 4, 5, 6]
    result = _cli()
    assert result.exit_code == 1
    assert "audit trail NOT intact: row 1 (ingest): MAC mismatch" in result.output


def test_relabelling_keyed_rows_as_legacy_is_detected(store):
    """Plain sha256 rows pass as legacy only before the boundary, which the signed anchor pins."""
    _append(store, 6)
    _drop_triggers(store)
    _rechain(store, _sha256)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET keyed_from = 7"))
    verdict = audit.verify_trail(store)
    assert not verdict.ok
    assert any("keyed boundary moved: head says id 7, anchor says 1" in str(p) for p in verdict.problems)


def test_edited_row_is_reported_as_the_first_bad_row(store):
    _append(store, 6)
    _drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET target = 'doc-x' WHERE id = 4"))
    _rechain_from = 4  # recompute from the edited row on only, with a key the attacker made up
    with store.engine.begin() as conn:
        rows = conn.execute(select(EVENTS).where(EVENTS.c.id >= _rechain_from).order_by(EVENTS.c.id)).all()
        prev = conn.execute(select(EVENTS.c.hash).where(EVENTS.c.id == _rechain_from - 1)).scalar()
        for r in rows:
            h = _forged_mac(prev, r)
            conn.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :i"),
                         {"p": prev, "h": h, "i": r.id})
            prev = h
        conn.execute(text("UPDATE audit_head SET last_mac = :h"), {"h": prev})
    verdict = audit.verify_trail(store)
    assert (verdict.problem.id, verdict.problem.action, verdict.problem.what) == (4, "ingest", "MAC mismatch")


def test_deleting_the_last_rows_is_detected_through_the_anchor(store):
    _append(store, 8)
    _drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id > 5"))
        last = conn.execute(text("SELECT hash FROM audit_events WHERE id = 5")).scalar()
        conn.execute(text("UPDATE audit_head SET n_rows = 5, last_id = 5, last_mac = :h"), {"h": last})
    verdict = audit.verify_trail(store)
    assert not verdict.ok
    assert str(verdict.problem) == "rows missing after id 5 (anchor says count 8, last id 8; the table has 5)"
    result = _cli()
    assert result.exit_code == 1 and "rows missing after id 5 (anchor says count 8" in result.output

    # Appending more rows than were deleted does not hide it, and the anchor stays where it was.
    _append(store, 4, start=100)
    verdict = audit.verify_trail(store)
    assert not verdict.ok and "is not the anchored one" in str(verdict.problem)
    assert read_anchor(store.settings.audit_anchor_path)["count"] == 8


def test_deleting_rows_without_fixing_the_head_is_detected(store):
    _append(store, 4)
    _drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 4"))
    verdict = audit.verify_trail(store)
    assert not verdict.ok and "head row does not match the rows" in str(verdict.problem)


def test_an_anchor_forged_without_the_key_is_rejected(store):
    _append(store, 8)
    _drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id > 5"))
        last = conn.execute(text("SELECT hash FROM audit_events WHERE id = 5")).scalar()
        conn.execute(text("UPDATE audit_head SET n_rows = 5, last_id = 5, last_mac = :h"), {"h": last})
    path = store.settings.audit_anchor_path
    write_anchor(path, signed_anchor(FORGED_KEY, 5, 5, last, 1))
    verdict = audit.verify_trail(store)
    assert not verdict.ok and str(verdict.problem).startswith("anchor MAC invalid (signed with key ")
    # Editing the count of a genuine anchor without re-signing it fails the same way.
    genuine = read_anchor(path)
    write_anchor(path, {**genuine, "count": 5, "last_id": 5, "last_mac": last})
    assert str(audit.verify_trail(store).problem).startswith("anchor MAC invalid")
    # An anchor removed altogether is no way out either.
    path.unlink()
    verdict = audit.verify_trail(store)
    assert not verdict.ok and str(verdict.problem).startswith("anchor missing")
    assert _cli().exit_code == 1


def test_rows_past_the_anchor_are_a_warning_not_a_failure(store, monkeypatch):
    _append(store, 3)
    monkeypatch.setattr(audit, "advance_anchor", lambda engine, settings: False)  # a crash before the write
    _append(store, 2, start=3)
    verdict = audit.verify_trail(store)
    assert verdict.ok and verdict.rows == 5 and verdict.anchor["count"] == 3
    assert verdict.warnings and "2 row(s) after the anchor" in verdict.warnings[0]
    monkeypatch.undo()
    _append(store, 1, start=5)  # the next append catches the anchor up
    verdict = audit.verify_trail(store)
    assert verdict.ok and not verdict.warnings and verdict.anchor["count"] == 6


def test_a_missing_key_is_a_clear_error_not_a_new_key(store):
    _append(store, 2)
    key_path = store.settings.audit_key_path
    key_path.rename(key_path.with_name("moved.key"))
    with pytest.raises(AuditKeyError, match="key is missing"), store.session() as s:
        audit.record(s, "ingest", "doc-x")
    assert not key_path.exists()
    verdict = audit.verify_trail(store)
    assert not verdict.ok and "audit key missing" in str(verdict.problem)
    result = _cli()
    assert result.exit_code == 1 and "audit key missing" in result.output


def test_key_file_is_private_and_the_key_is_never_stored(store, home):
    _append(store, 5)
    key_path = store.settings.audit_key_path
    assert key_path == home / "keys" / "audit.key"
    assert key_path.stat().st_mode & 0o777 == 0o600
    key = bytes.fromhex(key_path.read_text().strip())
    store.close()
    import base64

    forms = [key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key), base64.b64encode(key)[:40]]
    for f in [home / "lextune.db", home / "lextune.db-wal", store.settings.audit_anchor_path]:
        if f.exists():
            data = f.read_bytes()
            assert not any(form in data for form in forms), f


def test_key_from_the_environment_hex_or_base64(tmp_path, monkeypatch):
    import base64

    from lextune.core.config import get_settings
    from lextune.core.store import Store

    key = os.urandom(32)
    monkeypatch.setenv("LEXTUNE_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("LEXTUNE_AUDIT_KEY", key.hex())
    store = Store(get_settings())
    _append(store, 3)
    assert not store.settings.audit_key_path.exists()  # no key file made when the key comes from the env
    assert audit.verify_trail(store).ok
    store.close()
    monkeypatch.setenv("LEXTUNE_AUDIT_KEY", base64.b64encode(key).decode())
    store = Store(get_settings())
    assert audit.verify_trail(store).ok  # the same key, written another way
    assert key.hex() not in repr(store.settings)  # a SecretStr: never printed
    store.close()
    monkeypatch.setenv("LEXTUNE_AUDIT_KEY", "secret!")
    store = Store(get_settings())
    with pytest.raises(AuditKeyError, match="neither hex nor base64") as err, store.session() as s:
        audit.record(s, "x")
    assert "secret!" not in str(err.value)
    store.close()


def test_key_and_anchor_can_live_elsewhere(tmp_path):
    from lextune.core.config import Settings
    from lextune.core.store import Store

    settings = Settings(home=tmp_path / "h", audit_key_file=tmp_path / "secrets" / "audit.key",
                        audit_anchor_file=tmp_path / "worm" / "lextune.anchor",
                        master_key_file=tmp_path / "secrets" / "master.key")
    store = Store(settings)
    _append(store, 2)
    assert (tmp_path / "secrets" / "audit.key").is_file() and (tmp_path / "worm" / "lextune.anchor").is_file()
    assert not (tmp_path / "h" / "keys").exists() and not (tmp_path / "h" / "audit.anchor").exists()
    assert audit.verify_trail(store).ok
    store.close()


_WORKER = textwrap.dedent("""
    import sys
    from lextune.core import audit
    from lextune.core.config import Settings
    from lextune.core.store import Store

    import pathlib
    import time

    store = Store(Settings(home=sys.argv[1]))
    pathlib.Path(sys.argv[1], "ready-" + sys.argv[2]).touch()
    while len(list(pathlib.Path(sys.argv[1]).glob("ready-*"))) < 2:  # start together
        time.sleep(0.01)
    for i in range(int(sys.argv[3])):
        with store.session() as s:
            audit.record(s, "ingest", f"{sys.argv[2]}-{i}", {"i": i})
""")


def test_concurrent_writers_are_serialised(tmp_path):
    from lextune.core.config import Settings
    from lextune.core.store import Store

    home = tmp_path / "h"
    Store(Settings(home=home)).close()  # the database exists; the key does not yet (the writers race for it)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEXTUNE_")}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(home), f"w{w}", "40"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for w in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out.decode()[-2000:]
    store = Store(Settings(home=home))
    verdict = audit.verify_trail(store)
    assert verdict.ok, verdict.problems
    assert verdict.rows == 80 and not verdict.warnings and verdict.anchor["count"] == 80
    with store.session() as s:
        targets = {e.target for e in s.scalars(select(AuditEventRow))}
    assert len(targets) == 80
    store.close()
