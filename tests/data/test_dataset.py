import json

import pytest
from conftest import sample_squad

from lextune.core.errors import DatasetError
from lextune.data.dataset import BuildConfig, build_dataset, read_rows, split_path
from lextune.data.prompts import NOT_FOUND
from lextune.vault.vault import Vault


@pytest.fixture()
def vault_with_contracts(store, tmp_path):
    path = tmp_path / "cuad.json"
    path.write_text(json.dumps({"data": sample_squad()["data"][:10]}))
    report = Vault(store).ingest([path])
    assert len(report.added) == 10
    return store


def test_rows_point_back_to_chunks_and_no_contract_in_two_splits(vault_with_contracts):
    store = vault_with_contracts
    info = build_dataset(store)
    vault = Vault(store)
    docs_by_split = {}
    for sp in ("train", "dev", "test"):
        rows = read_rows(split_path(info, sp))
        docs_by_split[sp] = {r.document_id for r in rows}
        for r in rows:
            assert r.split == sp and r.chunk_ids
            chunks = vault.get_chunks(r.chunk_ids)
            assert set(chunks) == set(r.chunk_ids)
            assert all(c.document_id == r.document_id for c in chunks.values())
            # every cited chunk overlaps the row's span
            assert all(c.start < r.span.end and r.span.start < c.end for c in chunks.values())
    assert not docs_by_split["train"] & docs_by_split["test"]
    assert not docs_by_split["train"] & docs_by_split["dev"]
    assert not docs_by_split["dev"] & docs_by_split["test"]


def test_clause_rows_are_grounded_in_the_contract_text(vault_with_contracts):
    store = vault_with_contracts
    info = build_dataset(store)
    vault = Vault(store)
    rows = read_rows(split_path(info, "train"))
    typing = [r for r in rows if r.task == "clause_type"]
    quoting = [r for r in rows if r.task == "clause_quote"]
    assert typing and quoting
    assert {r.answer for r in typing} <= set(info.clause_types)
    assert any(r.answer == NOT_FOUND for r in quoting)
    for r in quoting:
        text = vault.document_text(r.document_id)
        if r.answer != NOT_FOUND:
            assert r.answer in text[r.span.start: r.span.end]  # quote lies inside its excerpt
            assert r.answer in r.messages[1]["content"]
    for r in typing:
        assert r.messages[-1] == {"role": "assistant", "content": r.label}
        assert vault.document_text(r.document_id)[r.span.start: r.span.end].strip()[:40] in r.messages[1]["content"]


def test_unknown_clause_type_lists_known_ones(vault_with_contracts):
    with pytest.raises(DatasetError, match="unknown clause type.*'Made Up'.*Governing Law"):
        build_dataset(vault_with_contracts, BuildConfig(clause_types=["Made Up"]))


def test_empty_vault_refuses(store):
    with pytest.raises(DatasetError, match="no labelled contracts"):
        build_dataset(store)


def test_build_is_reproducible(vault_with_contracts):
    a = build_dataset(vault_with_contracts)
    b = build_dataset(vault_with_contracts)
    assert a.sha256 == b.sha256 and a.id == b.id


def test_malformed_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "rows.jsonl"
    p.write_text('{"id": "x"}\nnot json\n')
    with pytest.raises(DatasetError, match=r"rows.jsonl:1: malformed row"):
        read_rows(p)


def test_rows_with_unicode_line_separators_round_trip(tmp_path):
    from lextune.core.records import DatasetRow

    row = DatasetRow(id="r", task="clause_type", split="test", document_id="d", answer="Insurance",
                     messages=[{"role": "user", "content": "line one\u2028line two\u0085end"},
                               {"role": "assistant", "content": "Insurance"}])
    p = tmp_path / "rows.jsonl"
    p.write_text(row.model_dump_json() + "\n", encoding="utf-8")
    assert read_rows(p) == [row]
