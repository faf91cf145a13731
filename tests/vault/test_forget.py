"""Forgetting a document: text, chunks, index, vectors and PII mapping gone (also from the file's bytes),
lineage marked, datasets purged on request, one audit row without text, a re-ingest refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from lextune.core import audit, fts
from lextune.core.errors import ConfigError, NotFoundError
from lextune.core.fts_tokens import blinder
from lextune.core.records import DatasetRow, ModelVersion, Redaction
from lextune.core.tables import (
    AuditEventRow,
    ChunkRow,
    ChunkVectorRow,
    DatasetRowDB,
    DocumentRow,
    ModelVersionRow,
    PiiRedactionRow,
)
from lextune.data.redactions import save as save_redactions
from lextune.rag import vectors
from lextune.rag.retrieve import retrieve
from lextune.registry.versions import register_version
from lextune.vault.forget import (
    affected_by_erasure,
    forget_document,
    forgotten,
    forgotten_notice,
    plan_forget,
)
from lextune.vault.vault import Vault

SECRET = "The Flurbogaster merger plan belongs to Zanzibarquux Holdings of Vexmoor."
A_TEXT = f"1. CONFIDENTIALITY\n\n{SECRET} Each party keeps it secret.\n\n2. TERM\n\nThe term is two years.\n"
B_TEXT = "1. PAYMENT\n\nInvoices are payable within thirty days of receipt by the buyer.\n"
WORDS = (b"flurbogast", b"zanzibarquux", b"vexmoor")  # lower-case: FTS terms are stored folded (and stemmed)


class FakeEmbedder:
    """Deterministic bag-of-words vectors: no model to load, same text gives the same vector."""

    name = "fake"
    dim = 32

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.sha256(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i] /= max(np.linalg.norm(out[i]), 1e-6)
        return out


@pytest.fixture()
def vault(store, tmp_path):
    """Two documents, vectors, PII mappings, a dataset with rows from both and a version trained on it."""
    (tmp_path / "a.txt").write_text(A_TEXT)
    (tmp_path / "b.txt").write_text(B_TEXT)
    report = Vault(store, workers=1).ingest([tmp_path / "a.txt", tmp_path / "b.txt"])
    a, b = report.added
    vectors.embed_chunks(store, FakeEmbedder())
    for doc, party in ((a, "Zanzibarquux Holdings"), (b, "Widget Corp")):
        save_redactions(store, doc, "cfg", [Redaction(start=0, end=5, entity_type="PARTY", original=party,
                                                      replacement="[PARTY_1]")])
    a_chunk = Vault(store).chunks(a)[0].id
    rows = {"train": [_row("t1", a, "train", SECRET), _row("t2", b, "train", "thirty days"),
                      _row("t3", b, "train", "quotes A", chunk_ids=[a_chunk])],
            "dev": [_row("d1", b, "dev", "payable"), _row("d2", a, "dev", "Vexmoor")], "test": []}
    ds = _register_dataset(store, tmp_path / "ds", "mixed", rows)
    clean = _register_dataset(store, tmp_path / "ds-clean", "clean", {"train": [_row("c1", b, "train", "x")]})
    for name, ds_id in (("tuned-v1", ds), ("clean-v1", clean)):
        register_version(store, ModelVersion(id=f"mv-{name}", name=name, base_model="tiny", adapter_path="/x",
                                             dataset_id=ds_id, dataset_sha256="0" * 64, recipe={}))
    return store, a, b, tmp_path


def _row(rid: str, doc: str, split: str, content: str, chunk_ids: list[str] | None = None) -> DatasetRow:
    return DatasetRow(id=rid, task="qa", split=split, document_id=doc, chunk_ids=chunk_ids or [], answer=content,
                      messages=[{"role": "user", "content": f"Q {rid}?"}, {"role": "assistant", "content": content}])


def _register_dataset(store, folder: Path, name: str, rows: dict[str, list[DatasetRow]]) -> str:
    lines = {sp: "".join(r.model_dump_json(exclude_none=True) + "\n" for r in rs) for sp, rs in rows.items()}
    sha = hashlib.sha256("".join(lines.values()).encode()).hexdigest()
    counts = {sp: ({"qa": len(rs)} if rs else {}) for sp, rs in rows.items()}
    folder.mkdir(parents=True)
    for sp, body in lines.items():
        (folder / f"{sp}.jsonl").write_text(body)
        (folder / "exports" / "openai").mkdir(parents=True, exist_ok=True)
        (folder / "exports" / "openai" / f"{sp}.jsonl").write_text(
            "".join(json.dumps({"messages": r.messages}) + "\n" for r in rows[sp]))
    manifest = {"id": f"ds-{name}", "name": name, "sha256": sha, "counts": counts}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with store.session() as s:
        s.add(DatasetRowDB(id=f"ds-{name}", name=name, path=str(folder), sha256=sha, counts=counts, clause_types=[],
                           manifest=manifest))
    return f"ds-{name}"


def _text(path: Path) -> str:
    """A dataset file's text: purged files are written back sealed (security/sealed_files.py)."""
    from lextune.security.sealed_files import DATASET, read_sealed_text

    return read_sealed_text(path, None, DATASET)


def _db_bytes(store) -> bytes:
    db = Path(store.settings.home) / "lextune.db"
    wal = db.with_name("lextune.db-wal")
    return (db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")).lower()


def _count(store, table, where) -> int:
    with store.session() as s:
        return s.execute(select(func.count()).select_from(table).where(where)).scalar_one()


@pytest.mark.parametrize("vacuum", [True, False])
def test_forget_removes_everything_and_scrubs_the_file(vault, vacuum):
    store, a, b, _ = vault
    emb = FakeEmbedder()
    a_chunks = {c.id for c in Vault(store).chunks(a)}
    # Warm the in-memory vector cache: it must not keep serving a forgotten chunk.
    q = emb.encode([SECRET])[0]
    assert vectors.dense_search(store, q, 3, emb.name)[0][0] in a_chunks
    assert retrieve(store, "Flurbogaster merger", k=2, mode="bm25").passages
    # The words are sealed (never in the file); the index holds their blinded terms: the test can see those.
    blinded = [blinder(store.keyring).term(w.decode()).encode() for w in WORDS]
    assert all(b in _db_bytes(store) for b in blinded) and not any(w in _db_bytes(store) for w in WORDS)

    from lextune.core.config import EVAL_CACHE

    (store.settings.home / EVAL_CACHE).write_bytes(b"cached outputs")  # may quote the document: must go
    report = forget_document(store, a, "erasure request 2026-03-01", vacuum=vacuum)

    assert report.caches_cleared == [EVAL_CACHE] and not (store.settings.home / EVAL_CACHE).exists()
    assert report.document_ids == [a] and report.removed["documents"] == 1
    assert report.removed["chunks"] == len(a_chunks) == report.removed["vectors"] == report.removed["fts_rows"]
    assert report.removed["pii_mappings"] == 1
    assert _count(store, DocumentRow, DocumentRow.id == a) == 0
    assert _count(store, ChunkRow, ChunkRow.document_id == a) == 0
    assert _count(store, ChunkVectorRow, ChunkVectorRow.chunk_id.in_(a_chunks)) == 0
    assert _count(store, PiiRedactionRow, PiiRedactionRow.document_id == a) == 0
    with store.session() as s:
        assert fts.count_documents(s, [a]) == 0 and fts.search(s, store.keyring, "flurbogaster", 5) == []
    assert store not in vectors._CACHE  # dropped by the on_forget hook
    assert not retrieve(store, "Flurbogaster merger", k=2, mode="bm25").passages
    hybrid = retrieve(store, SECRET, k=5, mode="hybrid", embedder=emb)
    assert hybrid.passages and not any(p.document_id == a for p in hybrid.passages)
    assert not {c for c, _ in vectors.dense_search(store, q, 10, emb.name)} & a_chunks
    assert vectors.chunk_vectors(store, sorted(a_chunks), emb.name) == {}
    # The other document is untouched.
    assert Vault(store).document_text(b) == B_TEXT
    assert _count(store, PiiRedactionRow, PiiRedactionRow.document_id == b) == 1
    assert retrieve(store, "invoices payable", k=1, mode="bm25").passages[0].document_id == b
    # No copy of the text in the database file or its WAL (deleted pages included).
    raw = _db_bytes(store)
    assert not any(w in raw for w in WORDS + tuple(blinded)), [w for w in WORDS + tuple(blinded) if w in raw]
    assert report.storage["vacuumed"] is vacuum and report.storage["wal_truncated"] is True


def test_lineage_marks_datasets_and_versions_without_touching_files(vault):
    store, a, _, tmp_path = vault
    before = _text(tmp_path / "ds" / "train.jsonl")
    report = forget_document(store, a, "matter M-1 closed")
    [ds] = report.datasets
    assert (ds.id, ds.rows, ds.purged) == ("ds-mixed", {"train": 2, "dev": 1}, False)  # t3 quotes a chunk of a
    assert [v.name for v in report.versions] == ["tuned-v1"]
    assert _text(tmp_path / "ds" / "train.jsonl") == before  # marked, not rewritten
    [mark] = affected_by_erasure(store, "ds-mixed")
    assert mark["documents"] == [a] and mark["reason"] == "matter M-1 closed" and mark["rows"] == 3
    assert mark["purged"] is False and mark["at"]
    [vmark] = affected_by_erasure(store, "tuned-v1")
    assert vmark["must_retrain"] and vmark["dataset_id"] == "ds-mixed" and vmark["documents"] == [a]
    assert affected_by_erasure(store, "clean") == [] and affected_by_erasure(store, "mv-clean-v1") == []
    with pytest.raises(NotFoundError):
        affected_by_erasure(store, "nope")
    # Later: purge the files of the already-forgotten document.
    with pytest.raises(NotFoundError, match="already forgotten"):
        forget_document(store, a, "again")
    again = forget_document(store, a, "purge later", purge_datasets=True)
    assert again.removed == {} and again.datasets[0].purged
    assert SECRET not in _text(tmp_path / "ds" / "train.jsonl")
    assert [m["purged"] for m in affected_by_erasure(store, "ds-mixed")] == [False, True]


def test_purge_datasets_rewrites_rows_exports_manifest_and_hash(vault):
    store, a, b, tmp_path = vault
    folder = tmp_path / "ds"
    old_sha = json.loads(_text(folder / "manifest.json"))["sha256"]
    report = forget_document(store, a, "erasure", purge_datasets=True)
    [ds] = report.datasets
    assert ds.purged and ds.previous_sha256 == old_sha and ds.sha256 != old_sha
    for split, ids in (("train", ["t2"]), ("dev", ["d1"])):
        rows = [json.loads(ln) for ln in _text(folder / f"{split}.jsonl").splitlines()]
        assert [r["id"] for r in rows] == ids and all(r["document_id"] == b for r in rows)
        exported = _text(folder / "exports" / "openai" / f"{split}.jsonl")
        assert len(exported.splitlines()) == 1 and SECRET not in exported and "Vexmoor" not in exported
    body = "".join(_text(folder / f"{sp}.jsonl") for sp in ("train", "dev", "test"))
    manifest = json.loads(_text(folder / "manifest.json"))
    assert manifest["sha256"] == hashlib.sha256(body.encode()).hexdigest() == ds.sha256
    assert manifest["counts"] == {"train": {"qa": 1}, "dev": {"qa": 1}, "test": {}}
    assert manifest["erasures"][0]["documents"] == [a] and manifest["erasures"][0]["previous_sha256"] == old_sha
    with store.session() as s:
        row = s.get(DatasetRowDB, "ds-mixed")
        assert row.sha256 == ds.sha256 and row.counts == manifest["counts"]
        assert s.get(ModelVersionRow, "mv-tuned-v1").affected_by_erasure[0]["dataset_purged"] is True
    assert not any(p.name.endswith(".purge") for p in tmp_path.iterdir())  # no temp folder left behind


def test_audit_row_has_counts_and_no_text(vault):
    store, a, _, tmp_path = vault
    report = forget_document(store, a, "erasure request", actor="dpo@firm")
    with store.session() as s:
        rows = s.scalars(select(AuditEventRow).where(AuditEventRow.action == "vault.forget")).all()
        assert audit.verify_chain(s) == []
    [row] = rows
    assert row.id == report.audit_id and row.target == a
    d = row.details
    assert d["documents"] == [a] and d["reason"] == "erasure request" and d["actor"] == "dpo@firm"
    assert d["removed"]["chunks"] > 0 and d["removed"]["vectors"] > 0 and d["removed"]["pii_mappings"] == 1
    assert d["datasets"] == ["ds-mixed"] and d["versions"] == ["mv-tuned-v1"]
    dumped = json.dumps(d).lower()
    assert not any(w.decode() in dumped for w in WORDS) and "secret" not in dumped
    # Nor any other audit row: ingest records ids and hashes, not the title or the file's path.
    with store.session() as s:
        everything = json.dumps([[r.target, r.details] for r in s.scalars(select(AuditEventRow))]).lower()
    assert not any(w.decode() in everything for w in WORDS) and str(tmp_path).lower() not in everything


def test_reingest_of_a_forgotten_file_is_recognised(vault):
    store, a, _, tmp_path = vault
    [doc] = [d for d in Vault(store).documents() if d.id == a]
    forget_document(store, a, "erasure")
    with store.session() as s:
        record = forgotten(s, doc.sha256)
    assert record is not None and record.document_id == a and record.reason == "erasure"
    assert "was forgotten on" in forgotten_notice("a", record)
    # The real ingest path refuses it, saying why.
    report = Vault(store, workers=1).ingest([tmp_path / "a.txt"])
    assert report.added == [] and any("was forgotten on" in w and a in w for w in report.warnings)
    assert _count(store, DocumentRow, DocumentRow.id == a) == 0


def test_versions_named_one_only_by_default_all_with_flag(store, tmp_path):
    path = tmp_path / "msa.txt"
    path.write_text("1. TERM\n\nThe term is two years.\n")
    v1 = Vault(store, workers=1).ingest([path]).added[0]
    path.write_text("1. TERM\n\nThe term is three years.\n")
    v2 = Vault(store, workers=1).ingest([path]).added[0]
    path.write_text("1. TERM\n\nThe term is four years.\n")
    v3 = Vault(store, workers=1).ingest([path]).added[0]
    report = forget_document(store, v3, "wrong file")
    assert report.other_versions == [v1, v2] and report.now_latest == [v2]
    assert any("--all-versions" in w for w in report.warnings)
    docs = {d.id: d for d in Vault(store).documents()}
    assert set(docs) == {v1, v2} and docs[v2].is_latest and not docs[v1].is_latest
    # Forgetting the middle of a chain keeps it linked.
    path.write_text("1. TERM\n\nThe term is five years.\n")
    v4 = Vault(store, workers=1).ingest([path]).added[0]
    forget_document(store, v2, "wrong file")
    assert {d.id: d.supersedes for d in Vault(store).documents()} == {v1: None, v4: v1}
    plan = plan_forget(store, v4, all_versions=True)
    assert plan.dry_run and plan.document_ids == [v1, v4] and len(Vault(store).documents()) == 2
    report = forget_document(store, v4, "client erasure", all_versions=True)
    assert report.document_ids == [v1, v4] and Vault(store).documents() == []


def test_errors(vault):
    store, a, _, _ = vault
    with pytest.raises(NotFoundError, match="no document 'doc-nope' in the vault") as e:
        forget_document(store, "doc-nope", "x")
    assert "\n" not in str(e.value) and a not in str(e.value)  # lists nothing
    with pytest.raises(ConfigError, match="reason"):
        forget_document(store, a, "  ")
    assert _count(store, DocumentRow, DocumentRow.id == a) == 1


def _app() -> typer.Typer:
    from lextune.cli_vault import register

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        pass

    register(app)
    return app


def test_cli_confirms_then_forgets_and_prints_json(vault):
    store, a, b, _ = vault
    runner = CliRunner()
    app = _app()
    declined = runner.invoke(app, ["vault", "forget", a, "--reason", "erasure"], input="n\n")
    assert declined.exit_code == 1 and "would forget" in declined.stderr and "ds-mixed" in declined.stderr
    assert _count(store, DocumentRow, DocumentRow.id == a) == 1  # nothing happened
    done = runner.invoke(app, ["vault", "forget", a, "--reason", "erasure", "--purge-datasets", "--yes", "--json"])
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert out["document_ids"] == [a] and out["datasets"][0]["purged"] and out["versions"][0]["name"] == "tuned-v1"
    assert SECRET not in done.stdout and "Zanzibarquux" not in done.stdout
    unknown = runner.invoke(app, ["vault", "forget", "doc-nope", "--reason", "x", "--yes"])
    assert isinstance(unknown.exception, NotFoundError) and b not in str(unknown.exception)


def test_cli_human_output(vault):
    _, a, _, _ = vault
    result = CliRunner().invoke(_app(), ["vault", "forget", a, "--reason", "erasure"], input="y\n")
    assert result.exit_code == 0, result.output
    assert f"forgot {a}" in result.stdout and "affected dataset ds-mixed" in result.stdout
    assert "--purge-datasets" in result.stdout and "tuned-v1" in result.stdout and "retrain" in result.stdout
    assert "WAL truncated" in result.stdout


def test_an_older_database_gains_the_erasure_columns(tmp_path):
    import sqlite3

    from sqlalchemy import inspect

    from lextune.core.config import Settings
    from lextune.core.store import Store

    home = tmp_path / "home"
    home.mkdir()
    db = sqlite3.connect(home / "lextune.db")
    db.executescript("""
        CREATE TABLE datasets (id VARCHAR(32) PRIMARY KEY, name TEXT, path TEXT, sha256 VARCHAR(64), counts JSON,
            clause_types JSON, manifest JSON, created_at DATETIME);
        INSERT INTO datasets VALUES ('ds-old', 'old', '/x', 'abc', '{}', '[]', '{}', '2026-01-01 00:00:00');
    """)
    db.commit()
    db.close()
    store = Store(Settings(home=home))
    columns = {c["name"] for c in inspect(store.engine).get_columns("datasets")}
    assert "affected_by_erasure" in columns and inspect(store.engine).has_table("erasures")
    assert affected_by_erasure(store, "ds-old") == []
    store.close()
