import json

from conftest import sample_squad

from lextune.vault.vault import Vault, iter_files


def test_ingest_keeps_good_files_reports_bad_and_dedupes(store, tmp_path):
    (tmp_path / "a.md").write_text("# MASTER AGREEMENT\n\n1. TERM\n\nThe term is two years.\n")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01\x02binary\x00\xff" * 20)
    (tmp_path / "notes.xyz").write_text("an unsupported type is reported, never silently ignored")
    vault = Vault(store, workers=1)
    report = vault.ingest([tmp_path])
    assert len(report.added) == 1
    assert len(report.errors) == 2 and report.anything_skipped
    assert any("bad.txt" in e and "binary" in e for e in report.errors)
    assert any("notes.xyz" in e and "unsupported file type" in e for e in report.errors)
    again = vault.ingest([tmp_path / "a.md"])
    assert again.added == [] and again.duplicates == ["a"] and not again.anything_skipped


def test_chunks_are_exact_spans_with_sections_and_defined_terms(store, tmp_path):
    path = tmp_path / "cuad.json"
    path.write_text(json.dumps({"data": sample_squad()["data"][:2]}))
    vault = Vault(store)
    report = vault.ingest([path])
    assert len(report.added) == 2
    for doc_id in report.added:
        text = vault.document_text(doc_id)
        chunks = vault.chunks(doc_id)
        assert chunks and all(text[c.start: c.end] == c.text for c in chunks)
        assert any(c.section for c in chunks) and any(c.heading_path for c in chunks)
        annotations = vault.annotations(doc_id)
        assert annotations and all(text[a.start: a.end] == a.text for a in annotations)
        terms = vault.defined_terms(doc_id)
        assert terms and all(text[t.start: t.end] == t.term for t in terms)


def test_iter_files_lists_every_file_but_hidden_and_metadata(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "X.PDF").write_bytes(b"%PDF")
    (tmp_path / "c.jsonl.gz").write_bytes(b"")
    (tmp_path / "skip.png").write_bytes(b"")
    (tmp_path / ".hidden.txt").write_text("x")
    (tmp_path / "c.jsonl.gz.meta.yaml").write_text("client: ACME\n")
    (tmp_path / "lextune.meta.yaml").write_text("matter: M-1\n")
    names = sorted(p.name for p in iter_files([tmp_path]))
    assert names == ["X.PDF", "c.jsonl.gz", "skip.png"]
