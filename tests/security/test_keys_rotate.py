"""`lextune keys rotate` / `status`: new data keys, re-encryption of columns and files, retiring, a new master key.

Sealed columns are found by type: the test's own table (SealedText, SealedJSON) is introspected like the
store's tables would be, so the test holds whether or not lextune's own columns are sealed yet.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from pydantic import SecretStr
from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select, text, type_coerce
from typer.testing import CliRunner

from lextune.core.config import get_settings
from lextune.core.store import Store
from lextune.core.tables import ChunkVectorRow, DocumentRow
from lextune.rag import vectors
from lextune.security import rotation
from lextune.security.master_key import MasterKeyError
from lextune.security.sealed_files import (
    DATASET,
    forget_keyrings,
    is_sealed,
    read_sealed_text,
    sealed_key_id,
    write_sealed_text,
)
from lextune.security.sealed_types import SealedJSON, SealedText
from lextune.vault.vault import Vault

MD = MetaData()
NOTES = Table("test_sealed_notes", MD, Column("id", Integer, primary_key=True),
              Column("body", SealedText("test_sealed_notes.body")), Column("meta", SealedJSON("test_sealed_notes.meta")))


def _cli(*args: str) -> str:
    from lextune.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _bodies(store, legacy: bool = True) -> dict[int, tuple]:
    """The rows as the ORM type reads them; row 4 (plaintext) only opens once re-encryption sealed it."""
    q = select(NOTES) if legacy else select(NOTES).where(NOTES.c.id != 4)
    with store.engine.connect() as conn:
        return {r.id: (r.body, r.meta) for r in conn.execute(q)}


def _raw_keys(store) -> set:
    with store.engine.connect() as conn:
        rows = conn.execute(select(type_coerce(NOTES.c.body, Text), type_coerce(NOTES.c.meta, Text))).all()
    return {store.keyring.text_key_of(v) for row in rows for v in row if v is not None}


@pytest.fixture()
def sealed_home(home, monkeypatch):
    """A store with sealed rows (and one legacy plaintext row), sealed and plain dataset files."""
    forget_keyrings()
    monkeypatch.setattr(rotation, "_metadata", lambda metadata: metadata or MD)  # the CLI introspects MD too
    store = Store()
    MD.create_all(store.engine)
    with store.engine.begin() as conn:
        conn.execute(insert(NOTES), [{"id": i, "body": f"note {i} of Zyxquorb", "meta": {"n": i}} for i in (1, 2, 3)])
        conn.execute(text("INSERT INTO test_sealed_notes (id, body, meta) VALUES (4, 'legacy plain', '{\"n\": 4}')"))
    ds = store.settings.datasets_dir
    write_sealed_text(ds / "ds-a" / "train.jsonl", '{"id": "a"}\n', store.keyring, DATASET)
    (ds / "ds-old").mkdir(parents=True)
    (ds / "ds-old" / "train.jsonl").write_text('{"id": "legacy"}\n')  # written before sealing existed
    yield store
    store.close()


def test_rotate_reencrypt_retire_and_a_store_opened_before_keeps_working(sealed_home):
    before = sealed_home  # opened before any rotation, like a running service
    k1 = before.keyring.active
    assert _cli("keys", "rotate").count("new active data key") == 1
    after = Store()
    k2 = after.keyring.active
    assert k2 != k1 and _bodies(after, False)[1] == ("note 1 of Zyxquorb", {"n": 1})  # old records still open
    with after.engine.begin() as conn:
        conn.execute(insert(NOTES), [{"id": 5, "body": "after rotation", "meta": None}])
    # The store opened before meets a key it does not know: it reloads, reads, and seals with the new key.
    assert _bodies(before, False)[5] == ("after rotation", None) and before.keyring.active == k2
    with before.engine.begin() as conn:
        conn.execute(insert(NOTES), [{"id": 6, "body": "from the old process", "meta": {"x": 1}}])
    assert _bodies(after, False)[6] == ("from the old process", {"x": 1})

    out = json.loads(_cli("keys", "rotate", "--reencrypt", "--no-new-key", "--json", "--batch", "2"))
    r = out["reencrypt"]
    # Rows 1-3 sealed with the old key, row 4 plaintext; rows 5 and 6 were sealed with the new key already.
    assert r["columns"] == {"resealed": 6, "sealed": 2, "current": 3} and not r["unreadable"]
    assert r["files"] == {"resealed": 1, "sealed": 1} and r["retired"] == [k1]
    assert _raw_keys(after) == {k2}  # every value, the legacy row included, sealed with the new key
    assert _bodies(after)[4] == ("legacy plain", {"n": 4})
    ds = after.settings.datasets_dir
    assert {sealed_key_id(p) for p in ds.rglob("*.jsonl")} == {k2}
    assert read_sealed_text(ds / "ds-old" / "train.jsonl", None, DATASET) == '{"id": "legacy"}\n'

    status = json.loads(_cli("keys", "status", "--json"))
    states = {k["id"]: k for k in status["keys"]}
    assert states[k1]["state"] == "retired" and states[k1]["seals"] == {}
    assert states[k2]["state"] == "active" and states[k2]["seals"] == {"records": 11, "files": 2}
    assert status["plaintext"] == {} and "wrapped" not in json.dumps(status)
    # A retired key still opens (a backup, a late writer); deleting it is a separate, explicit step.
    assert json.loads(_cli("keys", "rotate", "--delete-retired", "--no-new-key", "--json"))["deleted"] == [k1]
    assert k1 not in {k["id"] for k in json.loads(_cli("keys", "status", "--json"))["keys"]}
    with before.engine.begin() as conn:  # the old process still reads and writes
        conn.execute(insert(NOTES), [{"id": 7, "body": "still here", "meta": None}])
    assert _bodies(Store())[7] == ("still here", None)


def test_new_master_key_file_rewraps_and_replaces_the_default_key_file(sealed_home, home, tmp_path):
    before = sealed_home
    old_id = rotation.key_rows(before)[0].master_key_id
    key_file = home / "keys" / "master.key"
    old_hex = key_file.read_text().strip()
    new_file = tmp_path / "secrets" / "new-master.key"
    out = _cli("keys", "rotate", "--new-master-key-file", str(new_file))
    new_hex = new_file.read_text().strip()
    assert old_hex not in out and new_hex not in out  # no key material, ever
    assert f"created a new master key in {new_file}" in out and "2 data keys re-wrapped" in out
    assert key_file.read_text().strip() == new_hex and (key_file.stat().st_mode & 0o777) == 0o600
    forget_keyrings()
    with pytest.raises(MasterKeyError):
        Store(get_settings().model_copy(update={"master_key": SecretStr(old_hex)}))
    fresh = Store()
    assert _bodies(fresh, False)[1] == ("note 1 of Zyxquorb", {"n": 1})
    master_ids = {k["master_key_id"] for k in json.loads(_cli("keys", "status", "--json"))["keys"]}
    assert len(master_ids) == 1 and old_id not in master_ids
    # The store opened before the rotation keeps its unwrapped keys: it reads, writes, and rotates data keys.
    with before.engine.begin() as conn:
        conn.execute(insert(NOTES), [{"id": 8, "body": "written after the master changed", "meta": None}])
    assert _bodies(fresh, False)[8][0] == "written after the master changed"
    assert rotation.add_data_key(before) == before.keyring.active and _bodies(before, False)[2][0] == "note 2 of Zyxquorb"
    # Run again with the same key: nothing left to re-wrap, and the key is refused as "the current one".
    from lextune.cli import app

    again = CliRunner().invoke(app, ["keys", "rotate", "--new-master-key-file", str(new_file)])
    assert again.exit_code != 0 and "is the current one" in str(again.exception)


def test_new_master_key_env_when_the_key_comes_from_the_environment(home, monkeypatch):
    forget_keyrings()
    monkeypatch.setenv("LEXTUNE_MASTER_KEY", "11" * 32)
    store = Store()
    write_sealed_text(store.settings.datasets_dir / "ds-a" / "train.jsonl", "row\n", store.keyring, DATASET)
    monkeypatch.setenv("NEW_MASTER", "22" * 32)
    out = _cli("keys", "rotate", "--new-master-key-env", "NEW_MASTER")
    assert "set LEXTUNE_MASTER_KEY to the new key ($NEW_MASTER)" in out and "22" * 32 not in out
    assert not (home / "keys" / "master.key").exists()  # nothing written for a key given by environment
    forget_keyrings()
    with pytest.raises(MasterKeyError):
        Store()  # the environment still has the old key
    monkeypatch.setenv("LEXTUNE_MASTER_KEY", "22" * 32)
    assert read_sealed_text(store.settings.datasets_dir / "ds-a" / "train.jsonl", None, DATASET) == "row\n"
    assert is_sealed(store.settings.datasets_dir / "ds-a" / "train.jsonl")
    store.close()


# ---- the same on each backend: lextune's own tables (documents, chunks, vectors, JSON columns) ------------

DOC_A = "1. TERM\n\nThe Zyxquorb agreement runs for two years.\n\n2. PAYMENT\n\nInvoices are due in thirty days.\n"
DOC_B = "1. NOTICES\n\nNotices go to the Plimbart office in writing.\n"


class _Embedder:
    name, dim = "fake", 8

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(w.encode()) % self.dim] += 1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-6)
        return out


def _use_store_of(settings, monkeypatch) -> None:
    """The CLI (get_settings) opens the store of `settings`: its home, database, schema and key files."""
    monkeypatch.setenv("LEXTUNE_HOME", str(settings.home))
    monkeypatch.setenv("LEXTUNE_MASTER_KEY_FILE", str(settings.master_key_path))
    monkeypatch.setenv("LEXTUNE_AUDIT_KEY_FILE", str(settings.audit_key_path))
    for var, value in (("LEXTUNE_DATABASE_URL", settings.database_url),
                       ("LEXTUNE_DATABASE_SCHEMA", settings.database_schema)):
        if value:
            monkeypatch.setenv(var, value)


def _stored_keys(store) -> Counter:
    """Data key id of every stored sealed value (None: plaintext), read with plain SQL as the driver
    hands it over: text, a parsed JSON value (PostgreSQL json), bytes (bytea, BLOB)."""
    found: Counter = Counter()
    with store.engine.connect() as conn:
        for table, cols in rotation.sealed_columns(store.engine):
            for col in cols:
                for (value,) in conn.execute(text(f'SELECT "{col.name}" FROM {table.name}')):
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("ascii", "replace")
                    if value is not None:
                        found[store.keyring.text_key_of(value) if isinstance(value, str) else None] += 1
    return found


def _plant_plaintext(store, doc_id: str, chunk_id: str, vector: bytes) -> None:
    """Values as a lextune from before sealing stored them: text, JSON objects and lists, float32 bytes."""
    as_json = "CAST(:v AS JSON)" if store.engine.dialect.name == "postgresql" else ":v"
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE documents SET title = :v WHERE id = :id"), {"v": "Plimbart notices", "id": doc_id})
        conn.execute(text(f"UPDATE documents SET metadata = {as_json} WHERE id = :id"),
                     {"v": '{"client": "Plimbart", "n": 2}', "id": doc_id})
        conn.execute(text(f"UPDATE chunks SET heading_path = {as_json} WHERE id = :id"),
                     {"v": '["Legacy", "Notices"]', "id": chunk_id})
        conn.execute(text("UPDATE chunk_vectors SET vector = :v WHERE chunk_id = :id"), {"v": vector, "id": chunk_id})


def test_rotate_and_reencrypt_lextunes_tables_on_each_backend(db_store, db_settings, tmp_path, monkeypatch):
    forget_keyrings()
    _use_store_of(db_settings, monkeypatch)
    before = db_store  # opened before any rotation, like a running service
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "zyxquorb.txt").write_text(DOC_A)
    (tmp_path / "docs" / "plimbart.txt").write_text(DOC_B)
    a, b = Vault(before, workers=1).ingest([tmp_path / "docs" / "zyxquorb.txt", tmp_path / "docs" / "plimbart.txt"],
                                           metadata={"client": "Zyxquorb"}).added
    assert vectors.embed_chunks(before, _Embedder()) > 0
    vault = Vault(before)
    chunks_a, [chunk_b, *_] = vault.chunks(a), vault.chunks(b)
    vecs_a = vectors.chunk_vectors(before, [c.id for c in chunks_a], "fake")
    [doc_a] = [d for d in vault.documents() if d.id == a]
    assert doc_a.metadata["client"] == "Zyxquorb"
    plain_vector = np.arange(8, dtype=np.float32).tobytes()
    _plant_plaintext(before, b, chunk_b.id, plain_vector)
    k1 = before.keyring.active
    assert _stored_keys(before)[None] == 4 and set(_stored_keys(before)) == {k1, None}

    assert _cli("keys", "rotate").count("new active data key") == 1
    after = Store(db_settings)
    k2 = after.keyring.active
    assert k2 != k1 and rotation.key_rows(after)[-1].id == k2
    with after.session() as s:  # records sealed with the old key still open
        doc = s.get(DocumentRow, a)
        assert (doc.title, doc.meta, doc.text) == ("zyxquorb", doc_a.metadata, DOC_A)
    assert Vault(after).chunks(a) == chunks_a
    with after.session() as s:  # not vectors.chunk_vectors: its matrix holds the planted plaintext one too
        assert {c: s.get(ChunkVectorRow, c).vector for c in vecs_a} == {c: v.tobytes() for c, v in vecs_a.items()}

    out = json.loads(_cli("keys", "rotate", "--reencrypt", "--no-new-key", "--json", "--batch", "2"))
    r = out["reencrypt"]
    # Everything was sealed with k1 but the planted plaintext: title, metadata, heading path, vector.
    assert r["columns"]["sealed"] == 4 and r["columns"]["resealed"] > 0 and not r["unreadable"]
    assert set(r["columns"]) <= {"sealed", "resealed", "current"} and r["retired"] == [k1]
    stored = _stored_keys(after)
    assert set(stored) == {k2} and sum(stored.values()) == sum(r["columns"].values())  # nothing under k1, no plaintext
    # Run again: every value is current (a sealed JSON string is not taken for plaintext and sealed twice).
    again = json.loads(_cli("keys", "rotate", "--reencrypt", "--no-new-key", "--json"))["reencrypt"]
    assert again["columns"] == {"current": sum(stored.values())} and again["retired"] == []

    fresh = Store(db_settings)
    docs = {d.id: d for d in Vault(fresh).documents()}
    assert docs[a] == doc_a
    assert (docs[b].title, docs[b].metadata) == ("Plimbart notices", {"client": "Plimbart", "n": 2})
    assert Vault(fresh).chunks(a) == chunks_a and Vault(fresh).chunks(b)[0].heading_path == ["Legacy", "Notices"]
    got = vectors.chunk_vectors(fresh, [*vecs_a, chunk_b.id], "fake")
    assert all(np.array_equal(got[c], v) for c, v in vecs_a.items())
    assert got[chunk_b.id].tobytes() == plain_vector
    status = json.loads(_cli("keys", "status", "--json"))
    states = {k["id"]: k for k in status["keys"]}
    assert states[k1]["state"] == "retired" and states[k1]["seals"] == {}
    assert states[k2]["seals"] == {"records": sum(stored.values())} and status["plaintext"] == {}
    with before.session() as s:  # the process opened before the rotation still reads and writes
        s.get(DocumentRow, a).meta = {**doc_a.metadata, "late": True}
    fresh.close()

    # A new master key: every data key re-wrapped, the records untouched.
    old_master = rotation.key_rows(after)[0].master_key_id
    new_file = tmp_path / "secrets" / "master-2.key"
    out = _cli("keys", "rotate", "--new-master-key-file", str(new_file))
    assert f"replace {db_settings.master_key_path} with the new key" in out  # a key file it was given: not replaced
    with pytest.raises(MasterKeyError):
        Store(db_settings)  # the data keys are no longer under the old master key
    monkeypatch.setenv("LEXTUNE_MASTER_KEY_FILE", str(new_file))
    forget_keyrings()
    rewrapped = Store(db_settings.model_copy(update={"master_key_file": new_file}))
    with rewrapped.session() as s:
        assert s.get(DocumentRow, a).meta == {**doc_a.metadata, "late": True}
        assert s.get(DocumentRow, b).title == "Plimbart notices"
    masters = {k["master_key_id"] for k in json.loads(_cli("keys", "status", "--json"))["keys"]}
    assert len(masters) == 1 and old_master not in masters
    assert set(_stored_keys(rewrapped)) == {k2}
    for s in (after, rewrapped):
        s.close()


def test_a_value_written_since_it_was_read_is_left_to_its_writer_on_each_backend(db_store, tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text(DOC_A)
    [a] = Vault(db_store, workers=1).ingest([tmp_path / "a.txt"]).added
    _plant_plaintext(db_store, a, f"{a}:0000", np.ones(8, dtype=np.float32).tobytes())
    documents, read = DocumentRow.__table__, rotation._batches

    def racing(engine, table, stored, batch):
        for rows in read(engine, table, stored, batch):
            if table is documents:  # the service writes the row after rotation read it, before it writes back
                with db_store.engine.begin() as conn:
                    conn.execute(documents.update().where(documents.c.id == a).values(metadata={"client": "newer"}))
            yield rows

    monkeypatch.setattr(rotation, "_batches", racing)
    counts = rotation.reencrypt_columns(db_store)
    assert counts["changed"] == 1 and counts["sealed"] == 2  # the metadata is the writer's; title, heading path sealed
    with db_store.session() as s:
        doc = s.get(DocumentRow, a)
        assert (doc.meta, doc.title) == ({"client": "newer"}, "Plimbart notices")
