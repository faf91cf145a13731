"""Generic JSONL of {"text": ..., <metadata>} records, and the hook that routes .json files by top level."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from lextune.core.errors import IngestError
from lextune.core.records import LoadedDocument, LoadResult
from lextune.vault import loaders
from lextune.vault.loaders import load_path


def _jsonl(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    data = "\n".join(lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def test_records_with_metadata_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "memo-17", "title": "Memo on indemnities", "text": "1. Indemnities.\nThe seller ...",
                    "client": "Acme", "Matter": "M-2024-03", "Practice Area": "M&A", "year": 2024,
                    "tags": ["memo", "draft"], "authors": [{"name": "x"}], "confidential": True}),
        '{"text": "Clause one." ',  # truncated: not JSON
        json.dumps({"title": "No text here"}),
        "",
        json.dumps({"text": "   ", "id": "blank"}),
        json.dumps(["text", "a list"]),
        json.dumps({"text": "Opinion text.\u2028Still the same line.", "metadata": {
            "jurisdiction": "DE", "doc_type": "opinion", "client": "nested loses"}, "client": "Beta"}),
        json.dumps({"id": 42, "text": "Statute text."}),
    ]
    path = _jsonl(tmp_path, "corpus.jsonl", lines)
    result = load_path(path)
    memo, opinion, statute = result.documents
    assert (memo.title, memo.part, memo.format, memo.source_path) == (
        "Memo on indemnities", "memo-17", "jsonl", str(path))
    assert memo.text == "1. Indemnities.\nThe seller ..."
    assert memo.metadata == {"id": "memo-17", "client": "Acme", "matter": "M-2024-03", "practice_area": "M&A",
                             "year": 2024, "tags": ["memo", "draft"], "confidential": True}
    # No title or id: the file and line; U+2028 inside a string does not split the line.
    assert (opinion.title, opinion.part) == ("corpus.jsonl:line 7", "line 7")
    assert opinion.text == "Opinion text.\u2028Still the same line."
    assert opinion.metadata == {"jurisdiction": "DE", "document_type": "opinion", "client": "Beta"}
    assert (statute.title, statute.part, statute.metadata) == ("42", "42", {"id": 42})
    assert result.warnings == [
        f"{path}: line 2: malformed JSON (Expecting ',' delimiter, column 24); skipped",
        f"{path}: line 3: no 'text' string; skipped",
        f"{path}: line 5: empty text; skipped",
        f"{path}: line 6: not a JSON object; skipped",
    ]


def test_gzip_jsonl(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, "corpus.jsonl.gz", [json.dumps({"text": "Gzipped record."})])
    [doc] = load_path(path).documents
    assert (doc.text, doc.title) == ("Gzipped record.", "corpus.jsonl.gz:line 1")


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (["", "  "], "no records (the file has only blank lines)"),
        (['{"title": "x"}', "nope"], "no loadable records (2 problem(s); first: "),
    ],
)
def test_nothing_loadable(tmp_path: Path, lines: list[str], reason: str) -> None:
    with pytest.raises(IngestError) as info:
        load_path(_jsonl(tmp_path, "bad.jsonl", lines))
    assert info.value.reason.startswith(reason)


def test_cuad_jsonl_is_decided_by_the_first_valid_record(tmp_path: Path) -> None:
    record = {"id": "c1", "title": "Contract", "text": "Acme Inc. agrees.", "clauses": {
        "Parties": [{"text": "Acme Inc.", "start": 0, "end": 9}]}}
    path = _jsonl(tmp_path, "mixed.jsonl", ["not json", json.dumps(record), json.dumps({"text": "plain"})])
    result = load_path(path)
    assert [d.format for d in result.documents] == ["cuad", "cuad"]
    assert [(a.clause_type, a.start, a.end) for a in result.documents[0].annotations] == [("Parties", 0, 9)]


def test_json_formats_hook_routes_by_top_level_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def parse(path: Path, text: str, payload: dict) -> LoadResult:
        seen.append(payload)
        doc = LoadedDocument(title="toy", text=payload["toy_docs"][0], format="jsonl", source_path=str(path))
        return LoadResult(documents=[doc])

    # A format added to the hook is routed to by its top-level keys; nothing else changes.
    entry = ("toy JSON file", "an object with 'toy_docs'",
             lambda p: isinstance(p, dict) and "toy_docs" in p, parse)
    monkeypatch.setattr(loaders, "JSON_FORMATS", [*loaders.JSON_FORMATS, entry])
    path = tmp_path / "toy.json"
    path.write_text(json.dumps({"toy_docs": ["The NDA text."]}))
    [doc] = load_path(path).documents
    assert (doc.format, doc.text) == ("jsonl", "The NDA text.")
    assert seen == [{"toy_docs": ["The NDA text."]}]

    unknown = tmp_path / "other.json"
    unknown.write_text('{"rows": []}')
    with pytest.raises(IngestError) as info:
        load_path(unknown)
    assert info.value.reason == (
        "not a CUAD/SQuAD JSON file: expected an object with a 'data' list; "
        "or not a ContractNLI JSON file: expected an object with 'documents' and 'labels'; "
        "or not a toy JSON file: expected an object with 'toy_docs' "
        "(found an object with keys 'rows')"
    )
