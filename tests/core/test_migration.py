"""Opening a database made by an older lextune adds the new columns and keeps every row."""

import sqlite3

from lextune.core.config import Settings
from lextune.core.store import Store
from lextune.vault.vault import Vault


def test_old_database_gains_new_columns_and_keeps_rows(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    db = sqlite3.connect(home / "lextune.db")
    # The documents and chunks tables as lextune 0.1.0 (issue 2) created them.
    db.executescript("""
        CREATE TABLE documents (id VARCHAR(32) PRIMARY KEY, title TEXT, format VARCHAR(16), source_path TEXT,
            sha256 VARCHAR(64) UNIQUE, n_chars INTEGER, text TEXT, metadata JSON, created_at DATETIME);
        CREATE TABLE chunks (id VARCHAR(48) PRIMARY KEY, document_id VARCHAR(32), idx INTEGER, start INTEGER,
            "end" INTEGER, section TEXT, text TEXT);
        INSERT INTO documents VALUES ('doc-old', 'Old MSA', 'txt', '/x/old.txt', 'abc', 9, 'Old text.', '{}',
            '2026-01-01 00:00:00');
        INSERT INTO chunks VALUES ('doc-old:0000', 'doc-old', 0, 0, 9, '', 'Old text.');
    """)
    db.commit()
    db.close()
    store = Store(Settings(home=home))
    vault = Vault(store)
    [doc] = vault.documents()
    assert (doc.id, doc.title, doc.version, doc.is_latest) == ("doc-old", "Old MSA", 1, True)
    assert vault.chunks("doc-old")[0].kind == "body"
    assert [d.id for d in vault.documents(latest_only=True)] == ["doc-old"]
    store.close()


def test_documents_and_chunks_without_current_signatures_are_signed_again(tmp_path):
    """A database from before signatures (or of an older scheme) still builds, families and dedup included."""
    import json

    from conftest import sample_squad
    from sqlalchemy import update

    from lextune.core.tables import ChunkRow, DocumentRow
    from lextune.data.dataset import BuildConfig, build_dataset

    store = Store(Settings(home=tmp_path / "home"))
    path = tmp_path / "cuad.json"
    path.write_text(json.dumps({"data": sample_squad()["data"][:3]}))
    Vault(store, workers=1).ingest([path])
    with store.session() as s:
        s.execute(update(DocumentRow).values(signature=None))
        s.execute(update(ChunkRow).values(signature=b"LXMH\x01\x80\x00" + bytes(512)))  # scheme v1
    info = build_dataset(store, BuildConfig(builders=["clauses"], anonymize=False))
    assert info.counts["train"] or info.counts["test"]
    copy = tmp_path / "copy.txt"
    copy.write_text(sample_squad()["data"][0]["paragraphs"][0]["context"] + "\nSigned copy.\n")
    Vault(store, workers=1).ingest([copy])
    docs = Vault(store).documents()
    assert docs[-1].family_id == next(d.family_id for d in docs if d.title == sample_squad()["data"][0]["title"])
    store.close()
