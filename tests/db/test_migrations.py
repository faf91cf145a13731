"""Migrations make and upgrade the store's schema; a database from before them is taken over, rows kept."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import make_db_settings
from sqlalchemy import Column, MetaData, Table, inspect, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.types import TypeDecorator

from lextune.core import audit
from lextune.core.store import Store, make_engine, store_schema
from lextune.core.tables import Base
from lextune.migrations import SCRIPT_LOCATION, alembic_config
from lextune.migrations.runner import migrate
from lextune.security import rotation
from lextune.security.keyring import TEXT_PREFIX
from lextune.vault.vault import Vault

HEADS = set(ScriptDirectory(str(SCRIPT_LOCATION)).get_heads())


def _revision(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table_schema": store.schema})
        return set(ctx.get_current_heads())


def test_a_new_store_is_at_head_and_matches_the_models(db_store):
    assert _revision(db_store) == HEADS
    with db_store.engine.begin() as conn:
        # autogenerate finds nothing to do: every model change has its revision
        command.check(alembic_config(conn, db_store.schema))
        tables = set(inspect(conn).get_table_names(schema=db_store.schema))
    assert set(Base.metadata.tables) | {"alembic_version"} <= tables


def test_stores_opened_at_once_on_a_new_database_all_open(db_settings):
    stores, errors = [], []

    def open_store() -> None:
        try:
            stores.append(Store(db_settings))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_store) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(stores) == 3
    assert _revision(stores[0]) == HEADS
    assert len({s.keyring.active for s in stores}) == 1  # one set of data keys, not one per opener
    for s in stores:
        s.close()


# A lextune.db from before migrations: early tables (some columns missing, others absent altogether),
# the append-only triggers and indexes lextune made then, and a pre-HMAC audit chain.
_OLD_SCHEMA = """
CREATE TABLE documents (id VARCHAR(32) PRIMARY KEY, title TEXT, format VARCHAR(16), source_path TEXT,
    sha256 VARCHAR(64) UNIQUE, n_chars INTEGER, text TEXT, metadata JSON, created_at DATETIME);
CREATE TABLE chunks (id VARCHAR(48) PRIMARY KEY, document_id VARCHAR(32) REFERENCES documents (id) ON DELETE CASCADE,
    idx INTEGER, start INTEGER, "end" INTEGER, section TEXT, text TEXT, heading_path JSON);
CREATE INDEX ix_chunks_doc ON chunks (document_id, idx);
CREATE TABLE training_jobs (id VARCHAR(32) PRIMARY KEY, status VARCHAR(16), dataset_id VARCHAR(32),
    base_model TEXT, recipe JSON, step INTEGER, total_steps INTEGER, started_at DATETIME);
CREATE TABLE audit_events (id INTEGER NOT NULL PRIMARY KEY, ts DATETIME NOT NULL, actor VARCHAR(64) NOT NULL,
    action VARCHAR(64) NOT NULL, target TEXT NOT NULL, details JSON NOT NULL, prev_hash VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
INSERT INTO documents VALUES ('doc-old', 'Old MSA', 'txt', '/x/old.txt', 'abc', 9, 'Old text.', '{"client": "ACME"}',
    '2026-01-01 00:00:00.000000');
INSERT INTO chunks VALUES ('doc-old:0000', 'doc-old', 0, 0, 9, '', 'Old text.', '["1"]');
INSERT INTO training_jobs VALUES ('job-1', 'succeeded', 'ds-1', 'smollm2', '{"r": 8}', 10, 10,
    '2026-01-01 00:00:00.000000');
"""


def _old_sqlite_file(home) -> None:
    home.mkdir(parents=True)
    db = sqlite3.connect(home / "lextune.db")
    db.executescript(_OLD_SCHEMA)
    prev, ts = audit.GENESIS, datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    for i in (1, 2):
        h = audit.legacy_digest(prev, ts, "alice", "ingest", f"doc-{i}", {"chunks": i})
        db.execute("INSERT INTO audit_events VALUES (?, ?, 'alice', 'ingest', ?, ?, ?, ?)",
                   (i, ts.strftime("%Y-%m-%d %H:%M:%S.%f"), f"doc-{i}", f'{{"chunks": {i}}}', prev, h))
        prev = h
    db.commit()
    db.close()


def test_an_old_sqlite_file_is_upgraded_keeping_every_row(tmp_path):
    home = tmp_path / "home"
    _old_sqlite_file(home)
    settings = make_db_settings("sqlite", tmp_path)
    store = Store(settings)
    assert _revision(store) == HEADS
    [doc] = Vault(store).documents()
    assert (doc.id, doc.title, doc.metadata, doc.version, doc.is_latest) == ("doc-old", "Old MSA",
                                                                             {"client": "ACME"}, 1, True)
    [chunk] = Vault(store).chunks("doc-old")
    assert (chunk.text, chunk.kind) == ("Old text.", "body")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT text FROM chunks")).scalar().startswith(TEXT_PREFIX)  # sealed on takeover
        job = conn.execute(text("SELECT status, backend, cancel_requested, recipe FROM training_jobs")).one()
        assert tuple(job) == ("succeeded", "local", 0, '{"r": 8}')
        assert conn.execute(text("SELECT count(*) FROM chunk_vectors")).scalar() == 0  # a table it lacked
        indexes = {i["name"] for i in inspect(conn).get_indexes("documents")}
        assert {"ix_documents_source_key", "ix_documents_family_id"} <= indexes
    with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
    with store.session() as s:  # the legacy chain is pinned by the first keyed row
        audit.record(s, "model.activate", "default")
    verdict = audit.verify_trail(store)
    assert verdict.ok and (verdict.rows, verdict.legacy_rows) == (4, 2), verdict.problems
    store.close()
    store = Store(settings)  # opening it again changes nothing
    assert _revision(store) == HEADS and len(Vault(store).documents()) == 1
    store.close()


def _plain(type_):
    return type_.impl_instance if isinstance(type_, TypeDecorator) else type_


_OLD_COLUMNS = {  # what an early lextune's create_all made of these tables (before sealing, too)
    "documents": ["id", "title", "format", "source_path", "sha256", "n_chars", "text", "metadata", "created_at"],
    "chunks": ["id", "document_id", "idx", "start", "end", "section", "text"],
    "datasets": ["id", "name", "path", "sha256", "counts", "clause_types", "manifest", "created_at"],
}


def test_a_database_from_before_migrations_is_taken_over_on_each_backend(db_settings):
    engine = make_engine(db_settings)
    old = MetaData()
    for name, columns in _OLD_COLUMNS.items():
        model = Base.metadata.tables[name]
        Table(name, old, *[Column(c, _plain(model.c[c].type), primary_key=model.c[c].primary_key) for c in columns])
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old.tables["documents"].insert(), [{
            "id": "doc-old", "title": "Old MSA", "format": "txt", "source_path": "/x", "sha256": "abc", "n_chars": 9,
            "text": "Old text.", "metadata": {"k": "v"}, "created_at": datetime(2026, 1, 1, tzinfo=UTC)}])
        conn.execute(old.tables["datasets"].insert(), [{
            "id": "ds-1", "name": "clauses", "path": "/d", "sha256": "0" * 64, "counts": {"train": {"x": 1}},
            "clause_types": ["Insurance"], "manifest": {}, "created_at": datetime(2026, 1, 1, tzinfo=UTC)}])
    schema = store_schema(engine, db_settings)
    assert migrate(engine, schema) is True  # taken over: the schema part, checked before sealing below
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, text, is_latest, version FROM documents")).one() == (
            "doc-old", "Old text.", True, 1)
        assert "ix_documents_source_key" in {i["name"] for i in inspect(conn).get_indexes("documents", schema)}
    engine.dispose()
    _drop_version_table(db_settings, schema)  # as if it had never been migrated: now through the store
    store = Store(db_settings)  # seals the legacy plaintext (text, JSON objects) in place
    assert _revision(store) == HEADS
    [doc] = Vault(store).documents()
    assert (doc.id, doc.title, doc.metadata, doc.version, doc.is_latest) == ("doc-old", "Old MSA", {"k": "v"}, 1, True)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT name, affected_by_erasure FROM datasets")).one() == ("clauses", None)
        assert conn.execute(text("SELECT text FROM documents")).scalar().startswith(TEXT_PREFIX)
    assert set(rotation.key_usage(store)) == {store.keyring.active}  # the JSON columns too: no plaintext left
    with store.session() as s:
        audit.record(s, "ingest", "doc-new")
    assert audit.verify_trail(store).ok
    store.close()


def _drop_version_table(settings, schema: str | None) -> None:
    engine = make_engine(settings)
    with engine.begin() as conn:
        conn.execute(text(f'DROP TABLE {f"{schema}." if schema else ""}alembic_version'))
    engine.dispose()
