import json

import pytest
from conftest import sample_squad
from sqlalchemy import select

from lextune.core.errors import DatasetError
from lextune.core.tables import AuditEventRow, PiiRedactionRow, SplitAssignmentRow
from lextune.data.builders.base import BUILDERS, Builder, register
from lextune.data.dataset import BuildConfig, build_dataset, read_manifest, read_rows, split_path
from lextune.data.exporters import validate_openai_chat
from lextune.data.leakage import LeakageError
from lextune.data.prompts import NOT_FOUND
from lextune.data.splits import SplitConflictError
from lextune.vault.vault import Vault

FAST = {"anonymize": False}  # anonymization has its own tests below; most tests are about the rest


@pytest.fixture()
def vault_with_contracts(store, tmp_path):
    path = tmp_path / "cuad.json"
    path.write_text(json.dumps({"data": sample_squad()["data"][:10]}))
    report = Vault(store, workers=1).ingest([path])
    assert len(report.added) == 10
    return store


def _all_rows(info):
    return {sp: read_rows(split_path(info, sp)) for sp in ("train", "dev", "test")}


def test_rows_point_back_to_chunks_and_no_contract_in_two_splits(vault_with_contracts):
    store = vault_with_contracts
    info = build_dataset(store, BuildConfig(builders=["clauses", "instructions"], **FAST))
    vault = Vault(store)
    docs_by_split = {}
    for sp, rows in _all_rows(info).items():
        docs_by_split[sp] = {r.document_id for r in rows}
        for r in rows:
            assert r.split == sp and r.chunk_ids and r.builder in ("clauses", "instructions")
            chunks = vault.get_chunks(r.chunk_ids)
            assert set(chunks) == set(r.chunk_ids)
            assert all(c.document_id == r.document_id for c in chunks.values())
            assert all(c.start < r.span.end and r.span.start < c.end for c in chunks.values())
            assert r.meta.get("family_id")
    assert not docs_by_split["train"] & docs_by_split["test"]
    assert not docs_by_split["train"] & docs_by_split["dev"]
    assert not docs_by_split["dev"] & docs_by_split["test"]


def test_clause_rows_are_grounded_in_the_contract_text(vault_with_contracts):
    store = vault_with_contracts
    info = build_dataset(store, BuildConfig(builders=["clauses"], **FAST))
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
            for quote in r.answer.split("\n"):
                assert quote in text[r.span.start: r.span.end] and quote in r.messages[1]["content"]


def test_unknown_clause_type_and_builder_and_option_are_errors(vault_with_contracts):
    with pytest.raises(DatasetError, match="Made Up"):
        build_dataset(vault_with_contracts, BuildConfig(clause_types=["Made Up"], **FAST))
    with pytest.raises(DatasetError, match="unknown builder 'nope'"):
        build_dataset(vault_with_contracts, BuildConfig(builders=["nope"], **FAST))
    with pytest.raises(DatasetError, match="builder 'clauses' option 'not_found_shar'"):
        build_dataset(vault_with_contracts, BuildConfig(builders=["clauses"], options={
            "clauses": {"not_found_shar": 0.5}}, **FAST))


def test_a_tiny_vault_is_refused(store, tmp_path):
    (tmp_path / "a.txt").write_text("AGREEMENT\n\n1. TERM\n\nThe term of this agreement is two years.\n")
    Vault(store, workers=1).ingest([tmp_path])
    with pytest.raises(DatasetError, match="usable chunks"):
        build_dataset(store, BuildConfig(**FAST))


def test_building_twice_gives_the_same_dataset_and_exports_are_valid(vault_with_contracts):
    cfg = BuildConfig(builders=["clauses", "cited_qa"], exports=["openai", "alpaca", "sharegpt"], **FAST)
    a = build_dataset(vault_with_contracts, cfg)
    b = build_dataset(vault_with_contracts, cfg)
    assert a.id == b.id and a.sha256 == b.sha256
    exports = split_path(a, "train").parent / "exports"
    assert validate_openai_chat(exports / "openai" / "train.jsonl") == []
    assert (exports / "alpaca" / "train.jsonl").stat().st_size and (exports / "sharegpt" / "train.jsonl").exists()
    manifest = read_manifest(a)
    assert manifest["leakage_check"]["cross_split_pairs"] == 0 and manifest["builders"]["cited_qa"]["rows"]


def test_splits_are_pinned_whatever_the_seed(vault_with_contracts):
    store = vault_with_contracts
    build_dataset(store, BuildConfig(builders=["clauses"], seed=0, **FAST))
    with store.session() as s:
        pinned = {r.document_id: r.split for r in s.scalars(select(SplitAssignmentRow))}
    assert len(pinned) == 10
    second = build_dataset(store, BuildConfig(builders=["clauses"], seed=7, **FAST))
    for sp, rows in _all_rows(second).items():
        assert all(pinned[r.document_id] == sp for r in rows)


def test_split_by_matter_keeps_a_matter_together_and_conflicts_fail(store, tmp_path):
    data = sample_squad()["data"][:8]
    for i, d in enumerate(data):
        (tmp_path / f"c{i}.txt").write_text(d["paragraphs"][0]["context"])
        (tmp_path / f"c{i}.txt.meta.yaml").write_text(f"matter: M-{i % 2}\n")
    Vault(store, workers=1).ingest([tmp_path])
    info = build_dataset(store, BuildConfig(builders=["instructions"], split_by="matter", **FAST))
    by_matter: dict[str, set[str]] = {}
    for sp, rows in _all_rows(info).items():
        for r in rows:
            by_matter.setdefault(r.meta["matter"], set()).add(sp)
    assert all(len(splits) == 1 for splits in by_matter.values())
    # Two documents of one matter pinned to different splits (e.g. by an earlier family split):
    # keeping the matter together would move one of them, so the build must refuse.
    with store.session() as s:
        for row in s.scalars(select(SplitAssignmentRow)):
            s.delete(row)
    m0 = [d for d in Vault(store).documents() if d.metadata.get("matter") == "M-0"]
    with store.session() as s:
        s.add(SplitAssignmentRow(document_id=m0[0].id, split="train", unit="x", seed=0))
        s.add(SplitAssignmentRow(document_id=m0[1].id, split="test", unit="x", seed=0))
    with pytest.raises(SplitConflictError, match="pinned to different splits"):
        build_dataset(store, BuildConfig(builders=["instructions"], split_by="matter", **FAST))


def _plant_duplicate(store, tmp_path):
    """Contract A pinned to train; contract B pinned to test carries a copy of one of A's passages."""
    data = sample_squad()["data"][:6]
    vault = Vault(store, workers=1)
    for i, d in enumerate(data[2:], start=2):
        (tmp_path / f"other{i}.txt").write_text(d["paragraphs"][0]["context"])
    a_text = data[0]["paragraphs"][0]["context"]
    (tmp_path / "a.txt").write_text(a_text)
    vault.ingest([tmp_path])
    a = next(d for d in vault.documents() if d.title == "a")
    copied = max(vault.chunks(a.id), key=lambda c: len(c.text))
    b_text = data[1]["paragraphs"][0]["context"] + "\n\n99. ADDITIONAL TERMS\n\n" + copied.text + "\n"
    (tmp_path / "b.txt").write_text(b_text)
    vault.ingest([tmp_path / "b.txt"])
    b = next(d for d in vault.documents() if d.title == "b")
    assert a.family_id != b.family_id
    with store.session() as s:
        s.add(SplitAssignmentRow(document_id=a.id, split="train", unit="planted", seed=0))
        s.add(SplitAssignmentRow(document_id=b.id, split="test", unit="planted", seed=0))
    return a, copied


class _EveryChunk(Builder):
    """A careless builder: one row per chunk, ignoring the boilerplate marks (dup_of) it is given."""

    name = "every_chunk"
    tasks = ("echo",)

    def document_rows(self, doc, ctx):
        for c in doc.chunks:
            yield doc.row(self.name, "echo", f"Repeat:\n{c.text[:300]}", c.text[:300], c.start, c.end)


@pytest.fixture()
def careless_builder():
    register(_EveryChunk)
    yield
    BUILDERS.pop("every_chunk")


def test_leakage_check_fails_the_build_on_a_planted_duplicate(store, tmp_path, careless_builder):
    _, copied = _plant_duplicate(store, tmp_path)
    with pytest.raises(LeakageError) as err:
        build_dataset(store, BuildConfig(builders=["every_chunk"], cross_split_duplicates="fail", **FAST))
    assert copied.id in str(err.value)


def test_planted_duplicate_is_dropped_from_train_by_default(store, tmp_path, careless_builder):
    _, copied = _plant_duplicate(store, tmp_path)
    info = build_dataset(store, BuildConfig(builders=["every_chunk", "instructions"], **FAST))
    train = read_rows(split_path(info, "train"))
    assert train and all(copied.id not in r.chunk_ids for r in train)
    assert read_manifest(info)["dedup"]["cross_split_dropped"] >= 1  # the careless builder's row(s)
    assert read_manifest(info)["leakage_check"]["cross_split_pairs"] == 0


def test_a_builder_added_in_a_test_needs_no_other_change(vault_with_contracts):
    @register
    class HeadingEcho(Builder):
        name = "heading_echo"
        tasks = ("heading_echo",)

        def document_rows(self, doc, ctx):
            for c in doc.chunks[:2]:
                yield doc.row(self.name, "heading_echo", f"Heading of:\n{c.text[:200]}", c.section or "none",
                              c.start, c.end)

    try:
        info = build_dataset(vault_with_contracts, BuildConfig(builders=["heading_echo"], **FAST))
        rows = [r for rs in _all_rows(info).values() for r in rs]
        assert len(rows) == 20 and {r.task for r in rows} == {"heading_echo"}
    finally:
        BUILDERS.pop("heading_echo")


def test_anonymization_is_on_by_default_and_opting_out_is_audited(vault_with_contracts):
    store = vault_with_contracts
    info = build_dataset(store, BuildConfig(builders=["clauses", "instructions"]))
    with store.session() as s:
        originals = {r.original for r in s.scalars(select(PiiRedactionRow))
                     if r.entity_type in ("PARTY", "PERSON") and len(r.original) > 5}
    assert originals
    text = "\n".join(json.dumps(r.messages) for rs in _all_rows(info).values() for r in rs)
    leaked = [o for o in originals if o in text]
    assert not leaked, leaked[:5]
    assert "[PARTY_1]" in text
    assert read_manifest(info)["anonymization"]["enabled"]
    # An authorized user can reverse the pseudonyms of a document; the access is audited.
    from typer.testing import CliRunner

    from lextune.cli import app

    doc_id = next(r.document_id for r in read_rows(split_path(info, "train")))
    shown = CliRunner().invoke(app, ["pii", "mapping", doc_id], catch_exceptions=False)
    assert shown.exit_code == 0 and "[PARTY_1]" in shown.stdout
    build_dataset(store, BuildConfig(builders=["clauses"], anonymize=False))
    with store.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEventRow))]
    assert actions.count("pii.opt_out") == 1 and actions.count("pii.reveal") == 1
