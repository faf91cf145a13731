"""The store on SQLite and on PostgreSQL: rows, transactions, the audit trail, one schema per store."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import make_db_settings
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.types import TypeDecorator

from lextune.core import audit
from lextune.core.audit_key import ts_text
from lextune.core.store import Store
from lextune.core.tables import ChunkRow, DocumentRow
from lextune.core.tables_security import DataKeyRow
from lextune.security.keyring import TEXT_PREFIX

T0 = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def _document(doc_id: str = "doc-1", text_: str = "Governing Law. New York law governs.") -> DocumentRow:
    return DocumentRow(id=doc_id, title="MSA ACME", format="txt", source_path="/x/msa.txt", sha256=doc_id * 2,
                       n_chars=len(text_), text=text_, meta={"client": "ACME", "tags": ["msa", "ny"], "n": 1.5},
                       created_at=T0, signature=b"\x00\x01LXMH\xff")


def _chunk(doc_id: str = "doc-1") -> ChunkRow:
    return ChunkRow(id=f"{doc_id}:0000", document_id=doc_id, idx=0, start=0, end=14, section="1. Governing Law",
                    text="Governing Law.", heading_path=["Article 1", "Governing Law"], signature=bytes(range(256)))


def _disable_audit_triggers(store: Store) -> None:
    """What whoever owns the database (file or tables) can do: the triggers stop no one but honest code."""
    with store.engine.begin() as conn:
        if store.is_sqlite:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_no_delete"))
        else:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))


def _append(store: Store, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        with store.session() as s:
            audit.record(s, "ingest", f"doc-{i}", {"chunks": i, "title": f"Contrat n°{i}", "score": i / 3,
                                                    "tags": ["a", {"b": None}]})


def test_documents_and_chunks_round_trip(db_store):
    assert db_store.keyring is not None
    with db_store.session() as s:
        assert s.scalar(select(DataKeyRow.id).limit(1)) is not None  # the store's wrapped data keys
        s.add(_document())
        s.flush()
        s.add(_chunk())
    with db_store.session() as s:
        doc = s.get(DocumentRow, "doc-1")
        chunk = s.get(ChunkRow, "doc-1:0000")
        assert (doc.title, doc.text, doc.meta, doc.signature) == (
            "MSA ACME", "Governing Law. New York law governs.", {"client": "ACME", "tags": ["msa", "ny"], "n": 1.5},
            b"\x00\x01LXMH\xff")
        assert (doc.version, doc.is_latest, doc.part) == (1, True, "")  # the model's defaults
        assert ts_text(doc.created_at) == ts_text(T0)  # to the microsecond, whatever tz the backend gives back
        assert (chunk.heading_path, chunk.signature, chunk.kind) == (["Article 1", "Governing Law"],
                                                                     bytes(range(256)), "body")
    with db_store.engine.connect() as conn:
        raw = conn.execute(text("SELECT text FROM documents WHERE id = 'doc-1'")).scalar_one()
    if isinstance(DocumentRow.__table__.c.text.type, TypeDecorator):  # sealed: only ciphertext in the database
        assert raw.startswith(TEXT_PREFIX) and "Governing" not in raw
    else:
        assert raw == "Governing Law. New York law governs."


def test_session_commits_on_success_and_rolls_back_on_error(db_store):
    with pytest.raises(RuntimeError), db_store.session() as s:
        s.add(_document("doc-a"))
        s.flush()  # written inside the transaction, then rolled back
        raise RuntimeError("boom")
    with db_store.session() as s:
        assert s.get(DocumentRow, "doc-a") is None
        s.add(_document("doc-b"))
    with db_store.session() as s:
        assert [d.id for d in s.scalars(select(DocumentRow))] == ["doc-b"]


def test_audit_trail_verifies_and_detects_an_edited_row(db_store):
    _append(db_store, 5)
    verdict = audit.verify_trail(db_store)
    assert verdict.ok, verdict.problems
    assert (verdict.rows, verdict.legacy_rows, verdict.anchor["count"]) == (5, 0, 5)
    with db_store.session() as s:
        assert audit.verify_chain(s) == []
    _disable_audit_triggers(db_store)
    with db_store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET details = :d WHERE id = 3"), {"d": json.dumps({"chunks": 99})})
    verdict = audit.verify_trail(db_store)
    assert not verdict.ok
    assert (verdict.problem.id, verdict.problem.what) == (3, "MAC mismatch")


def test_deleted_audit_rows_are_detected(db_store):
    _append(db_store, 6)
    _disable_audit_triggers(db_store)
    with db_store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id > 4"))
        last = conn.execute(text("SELECT hash FROM audit_events WHERE id = 4")).scalar()
        conn.execute(text("UPDATE audit_head SET n_rows = 4, last_id = 4, last_mac = :h"), {"h": last})
    verdict = audit.verify_trail(db_store)
    assert not verdict.ok and str(verdict.problem).startswith("rows missing after id 4")


def test_audit_events_refuse_update_and_delete(db_store):
    _append(db_store, 2)
    statements = ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"]
    if not db_store.is_sqlite:
        statements.append("TRUNCATE audit_events")
    for sql in statements:
        with pytest.raises(DatabaseError, match="append-only"), db_store.engine.begin() as conn:
            conn.execute(text(sql))
    assert audit.verify_trail(db_store).ok


def test_audit_macs_hold_whatever_time_zone_a_session_reads_in(db_store):
    _append(db_store, 3)
    with db_store.session() as s:
        if not db_store.is_sqlite:  # timestamptz comes back in the session's zone: the MAC uses UTC
            s.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
            ts = s.scalar(text("SELECT ts FROM audit_events WHERE id = 1"))
            assert ts.utcoffset() != UTC.utcoffset(None)
        assert audit.verify_chain(s) == []


def test_appends_after_reopening_chain_on(db_settings):
    store = Store(db_settings)
    _append(store, 2)
    store.close()
    store = Store(db_settings)
    _append(store, 2, start=2)
    verdict = audit.verify_trail(store)
    assert verdict.ok and verdict.rows == 4, verdict.problems
    store.close()


def test_two_schemas_on_one_database_are_separate_stores(tmp_path, pg_schemas):
    a = Store(make_db_settings("postgres", tmp_path / "a", pg_schemas))
    b = Store(make_db_settings("postgres", tmp_path / "b", pg_schemas))
    with a.session() as s:
        s.add(_document("doc-a"))
    with b.session() as s:
        s.add(_document("doc-b"))  # the same sha256 would clash if the tables were shared
    _append(a, 3)
    _append(b, 1)
    for store, doc, rows in ((a, "doc-a", 3), (b, "doc-b", 1)):
        with store.session() as s:
            assert [d.id for d in s.scalars(select(DocumentRow))] == [doc]
        verdict = audit.verify_trail(store)
        assert verdict.ok and verdict.rows == rows, verdict.problems
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT current_schema()")).scalar() == store.schema
            where = conn.execute(text("SELECT table_schema FROM information_schema.tables "
                                      "WHERE table_name = 'alembic_version' AND table_schema = :s"),
                                 {"s": store.schema}).all()
            assert where == [(store.schema,)]
    assert a.keyring.active != b.keyring.active  # each store its own data keys
    a.close()
    b.close()
