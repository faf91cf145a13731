"""Client text is sealed in the database: a planted client name, sentence and word are nowhere in the
SQLite file or its WAL (index included), retrieval still finds them, a corrupted record fails by name
while the others stay readable, and sources are found again by their blind key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text

from lextune.core.records import Redaction
from lextune.core.tables import (
    ChunkRow,
    DocumentRow,
    EvalPredictionRow,
    EvalRunRow,
    JobEventRow,
    SplitAssignmentRow,
    TrainingJobRow,
)
from lextune.data.redactions import save as save_redactions
from lextune.rag import vectors
from lextune.rag.retrieve import retrieve
from lextune.security.keyring import TEXT_PREFIX, CiphertextError
from lextune.vault.vault import Vault

CLIENT = "Quixbottle Vantaggio Holdings"
SENTENCE = "The Zorblatt escrow shall be released to Pemberworth on the ninth business day after closing."
WORD = b"zorblatt"  # a single distinctive token, lower case as an index would hold it
DOC_A = (f'1. DEFINITIONS\n\n"Zorblatt Escrow" means the escrow account held for {CLIENT}.\n\n'
         f"2. ESCROW\n\n{SENTENCE} Interest accrues to the buyer.\n\n3. TERM\n\nThe term is two years.\n")
DOC_B = "1. PAYMENT\n\nInvoices are payable within thirty days of receipt by the buyer.\n"
PLANTED = (CLIENT.lower().encode(), SENTENCE.lower().encode(), WORD, b"quixbottle", b"pemberworth",
           b"ninth business day")


class FakeEmbedder:
    name, dim = "fake", 16

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.sha256(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i] /= max(np.linalg.norm(out[i]), 1e-6)
        return out


def _db_bytes(store) -> bytes:
    db = Path(store.settings.home) / "lextune.db"
    wal = db.with_name("lextune.db-wal")
    return (db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")).lower()


@pytest.fixture()
def planted(store, tmp_path):
    """Two documents, one holding the planted client, sentence and word in every sealed place."""
    return _plant(store, tmp_path)


@pytest.fixture()
def planted_any(db_store, tmp_path):
    """The same, on SQLite and on PostgreSQL."""
    return _plant(db_store, tmp_path)


def _raw_rows(store) -> bytes:
    """Every row of every table of the store, as the database returns it (PostgreSQL: row::text)."""
    from sqlalchemy import inspect

    with store.engine.connect() as conn:
        names = inspect(conn).get_table_names(schema=store.schema)
        quote = (lambda t: f'"{store.schema}"."{t}"') if store.schema else (lambda t: f'"{t}"')
        cast = "t::text" if store.engine.dialect.name == "postgresql" else "*"
        out = []
        for t in names:
            for row in conn.execute(text(f"SELECT {cast} FROM {quote(t)} t")):
                out.append(" ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row))
    return "\n".join(out).lower().encode()


def test_nothing_planted_is_in_any_row_and_retrieval_still_finds_it_on_each_backend(planted_any):
    store, a, _ = planted_any
    raw = _raw_rows(store)
    assert b"[org_1]" in raw and a.encode() in raw  # the dump sees row data
    assert not [w for w in PLANTED if w in raw]
    top = retrieve(store, "When is the Zorblatt escrow released?", k=1, mode="bm25").passages
    assert top and top[0].document_id == a and SENTENCE in top[0].text


def _plant(store, tmp_path):
    folder = tmp_path / "Quixbottle matters"
    folder.mkdir()
    (folder / "quixbottle_zorblatt_escrow.txt").write_text(DOC_A)
    (folder / "payment.txt").write_text(DOC_B)
    report = Vault(store, workers=1).ingest([folder / "quixbottle_zorblatt_escrow.txt", folder / "payment.txt"],
                                            metadata={"client": CLIENT, "matter": "Zorblatt acquisition"})
    a, b = report.added
    vectors.embed_chunks(store, FakeEmbedder())
    start = DOC_A.index(CLIENT)
    save_redactions(store, a, "cfg", [Redaction(start=start, end=start + len(CLIENT), entity_type="ORG",
                                                original=CLIENT, replacement="[ORG_1]")])
    with store.session() as s:
        s.add(SplitAssignmentRow(document_id=a, split="train", unit=f"client:{CLIENT}", seed=0))
        s.add(TrainingJobRow(id="job-1", status="failed", dataset_id="ds-1", base_model="tiny", recipe={},
                             error=f"bad row: {SENTENCE}"))
        s.add(EvalRunRow(id="run-1", model="stock", dataset_path="", split="test", metrics={}))
        s.flush()
        s.add(JobEventRow(job_id="job-1", level="error", message=f"failed: {SENTENCE}"))
        s.add(EvalPredictionRow(run_id="run-1", idx=0, example_id="ex-1", doc_id=a,
                                payload={"prompt": SENTENCE, "output": CLIENT}))
    return store, a, b


def test_nothing_planted_is_in_the_database_file_or_its_wal(planted):
    store, a, _ = planted
    with store.session() as s:  # every sealed place holds the planted text, read back through the keyring
        doc = s.get(DocumentRow, a)
        assert CLIENT in doc.text and CLIENT == doc.meta["client"] and "quixbottle" in doc.title
        assert "Quixbottle matters" in doc.source_path and len(doc.source_key) == 64 and "#" not in doc.source_key
        assert s.get(JobEventRow, 1).message.endswith(SENTENCE) and s.get(TrainingJobRow, "job-1").error
        assert s.get(EvalPredictionRow, ("run-1", 0)).payload["output"] == CLIENT
        terms = [t for (t,) in s.execute(text("SELECT term FROM defined_terms"))]
        assert terms and all(t.startswith(TEXT_PREFIX) for t in terms)  # raw SQL sees the ciphertext only
    raw = _db_bytes(store)  # the WAL as it stands (nothing checkpointed yet), then the file alone
    assert b"[org_1]" in raw  # the search sees row data: a plain column (the pseudonym) is there
    assert not [w for w in PLANTED if w in raw]
    vector = vectors.chunk_vectors(store, [f"{a}:0001"], "fake")[f"{a}:0001"]
    assert vector.tobytes() not in raw  # embeddings are sealed too
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    assert not [w for w in PLANTED if w in _db_bytes(store)]


def test_retrieval_still_finds_the_planted_sentence(planted):
    store, a, _ = planted
    r = retrieve(store, "When is the Zorblatt escrow released to Pemberworth?", k=1, mode="bm25")
    assert r.passages and r.passages[0].document_id == a and SENTENCE in r.passages[0].text
    assert r.passages[0].title == "quixbottle_zorblatt_escrow"
    hybrid = retrieve(store, SENTENCE, k=2, mode="hybrid", embedder=FakeEmbedder())
    assert SENTENCE in hybrid.passages[0].text


def _flip(store, table: str, column: str, key: str, value: str) -> None:
    """Corrupt one stored ciphertext as whoever holds the file could: one base64 character changed."""
    with store.engine.begin() as conn:
        sealed = conn.execute(text(f"SELECT {column} FROM {table} WHERE {key} = :v"), {"v": value}).scalar_one()
        i = len(sealed) // 2
        bad = sealed[:i] + ("A" if sealed[i] != "A" else "B") + sealed[i + 1:]
        conn.execute(text(f"UPDATE {table} SET {column} = :s WHERE {key} = :v"), {"s": bad, "v": value})


def test_a_corrupted_record_fails_by_name_and_the_others_stay_readable(planted):
    store, a, b = planted
    vault = Vault(store)
    chunks = [c.id for c in vault.chunks(a)]
    bad, good = chunks[1], chunks[0]
    _flip(store, "chunks", "text", "id", bad)
    for read in (lambda: vault.get_chunks([bad]), lambda: vault.chunks(a),
                 lambda: retrieve(store, "Zorblatt escrow Pemberworth", k=2, mode="bm25")):
        with pytest.raises(CiphertextError) as e:
            read()
        assert "chunks.text" in str(e.value) and bad in str(e.value), str(e.value)
    assert vault.get_chunks([good])[good].text and vault.document_text(a) == DOC_A
    assert [c.text for c in vault.chunks(b)] and retrieve(store, "invoices payable", k=1, mode="bm25").passages

    _flip(store, "documents", "text", "id", b)
    with pytest.raises(CiphertextError, match=rf"document {b}: documents\.text: .*failed authentication"):
        vault.document_text(b)
    assert vault.document_text(a) == DOC_A
    # Read by the ORM elsewhere: the place is named.
    with store.session() as s, pytest.raises(CiphertextError, match=r"documents\.text"):
        s.scalars(select(DocumentRow.text).where(DocumentRow.id == b)).one()


def test_versions_find_each_other_by_the_blind_source_key(store, tmp_path):
    path = tmp_path / "quixbottle_msa.txt"
    path.write_text("1. TERM\n\nThe term is two years.\n")
    first = Vault(store, workers=1).ingest([path]).added[0]
    path.write_text("1. TERM\n\nThe term is three years.\n")
    report = Vault(store, workers=1).ingest([path])
    assert report.new_versions and first in report.new_versions[0]
    with store.session() as s:
        keys = set(s.scalars(select(DocumentRow.source_key)))
        assert len(keys) == 1 and "quixbottle" not in keys.pop()
        # A key from before blinding ("path#part") is blinded at the next ingest; the chain holds.
        s.execute(text("UPDATE documents SET source_key = :k"), {"k": f"{path.resolve()}#"})
    path.write_text("1. TERM\n\nThe term is four years.\n")
    report = Vault(store, workers=1).ingest([path])
    assert report.new_versions and "v3" in report.new_versions[0]
    with store.session() as s:
        assert len(set(s.scalars(select(DocumentRow.source_key)))) == 1
        assert s.scalar(select(ChunkRow.text).limit(1))  # sealed columns still open


def test_key_rotation_reseals_every_sealed_column_json_and_vectors_included(planted):
    from lextune.security import rotation

    store, a, _ = planted
    vault = Vault(store)
    before = (vault.documents(), vault.chunks(a), vectors.chunk_vectors(store, [f"{a}:0001"], "fake"))
    old = store.keyring.active
    new = rotation.add_data_key(store)
    counts = rotation.reencrypt_columns(store)
    assert counts["resealed"] > 0 and not counts["unreadable"] and not counts["sealed"]
    usage = rotation.key_usage(store)
    assert set(usage) == {new} and usage[new]["records"] > 0  # nothing left under the old key, no plaintext
    vectors.invalidate(store)
    after = (vault.documents(), vault.chunks(a), vectors.chunk_vectors(store, [f"{a}:0001"], "fake"))
    assert after[:2] == before[:2] and after[0][0].metadata["client"] == CLIENT
    assert np.array_equal(after[2][f"{a}:0001"], before[2][f"{a}:0001"]) and old != new


def test_plaintext_vectors_from_before_sealing_are_dropped_at_open(planted):
    from lextune.core.store import Store

    store, a, _ = planted
    plain = np.ones(16, dtype=np.float32).tobytes()
    with store.engine.begin() as conn:  # as lextune stored vectors before sealing
        conn.execute(text("UPDATE chunk_vectors SET vector = :v WHERE chunk_id = :c"), {"v": plain, "c": f"{a}:0001"})
        conn.execute(text("DELETE FROM fts_state WHERE key = 'vectors'"))
    n = vectors.missing_chunks(store, "fake")
    store.close()
    store = Store(store.settings)
    assert vectors.missing_chunks(store, "fake") == n + 1  # dropped: embedded again when next needed
    assert vectors.embed_chunks(store, FakeEmbedder()) == n + 1
    store.close()
