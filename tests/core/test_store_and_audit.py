import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from lextune.core import audit
from lextune.core.atomic import atomic_dir, write_json
from lextune.core.tables import AuditEventRow


def test_store_lives_under_lextune_home(store, home):
    assert (home / "lextune.db").is_file()
    assert store.is_sqlite


def test_audit_chain_verifies_and_detects_tampering(store):
    with store.session() as s:
        audit.record(s, "ingest", "doc-1", {"chunks": 3})
        audit.record(s, "model.activate", "default", {"to": "mv-1"})
    with store.session() as s:
        assert audit.verify_chain(s) == []
        ids = [e.id for e in s.query(AuditEventRow).order_by(AuditEventRow.id)]
    # Bypass the append-only trigger the way an attacker with file access could: drop it.
    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_no_update"))
        conn.execute(text("UPDATE audit_events SET target = 'doc-2' WHERE id = :i"), {"i": ids[0]})
    with store.session() as s:
        assert audit.verify_chain(s) == [ids[0]]


def test_audit_events_cannot_be_updated_or_deleted(store):
    with store.session() as s:
        audit.record(s, "ingest", "doc-1")
    for sql in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(sql))


def test_failed_transaction_writes_nothing(store):
    with pytest.raises(RuntimeError), store.session() as s:
        audit.record(s, "ingest", "doc-1")
        raise RuntimeError("boom")
    with store.session() as s:
        assert s.query(AuditEventRow).count() == 0


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    final = tmp_path / "adapter"
    with pytest.raises(KeyboardInterrupt), atomic_dir(final) as tmp:
        write_json(tmp / "half.json", {"a": 1})
        raise KeyboardInterrupt
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(final) as tmp:
        write_json(tmp / "card.json", {"a": 1})
    assert (final / "card.json").is_file()
