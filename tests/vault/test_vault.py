import json

from conftest import sample_squad

from lextune.vault.vault import Vault, expand_paths


def test_ingest_keeps_good_files_reports_bad_and_dedupes(store, tmp_path):
    (tmp_path / "a.md").write_text("# MASTER AGREEMENT\n\n1. TERM\n\nThe term is two years.\n")
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait")
    (tmp_path / "notes.xyz").write_text("ignored by folder scans")
    vault = Vault(store)
    report = vault.ingest([tmp_path])
    assert len(report.added) == 1
    assert len(report.errors) == 1 and "bad.txt" in report.errors[0] and "UTF-8" in report.errors[0]
    again = vault.ingest([tmp_path / "a.md"])
    assert again.added == [] and again.duplicates == ["a"]


def test_chunks_are_exact_spans_with_sections(store, tmp_path):
    path = tmp_path / "cuad.json"
    path.write_text(json.dumps({"data": sample_squad()["data"][:2]}))
    vault = Vault(store)
    report = vault.ingest([path])
    for doc_id in report.added:
        text = vault.document_text(doc_id)
        chunks = vault.chunks(doc_id)
        assert chunks and all(text[c.start: c.end] == c.text for c in chunks)
        assert any(c.section for c in chunks)
        annotations = vault.annotations(doc_id)
        assert annotations and all(text[a.start: a.end] == a.text for a in annotations)


def test_expand_paths_finds_supported_files_only(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "X.PDF").write_bytes(b"%PDF")
    (tmp_path / "c.jsonl.gz").write_bytes(b"")
    (tmp_path / "skip.png").write_bytes(b"")
    names = sorted(p.name for p in expand_paths([tmp_path]))
    assert names == ["X.PDF", "c.jsonl.gz"]
